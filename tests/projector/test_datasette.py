"""Datasette on the live database: the documented command and canned queries, for real.

Datasette is served as its own process on the projector's file while the file is being
written (WAL), exactly as ``docs/projector.md`` tells operators to run it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from callstream.broker import free_port
from projector.store import Store
from tests.helpers import wait_until
from tests.projector.support import callback, sid

DOC = Path(__file__).resolve().parents[2] / "docs" / "projector.md"


def documented(pattern: str) -> str:
    m = re.search(pattern, DOC.read_text(), re.S)
    assert m is not None, f"docs/projector.md lost {pattern!r}"
    return m.group(1)


def test_datasette_serves_the_live_file_and_the_canned_queries(tmp_path: Path) -> None:
    command = documented(r"```sh\npip install datasette\n(datasette [^\n]+)\n```").split()
    assert command[1:] == ["callstream.db", "--metadata", "projector-queries.yml"]
    assert "-i" not in command and "--immutable" not in command
    (tmp_path / "projector-queries.yml").write_text(documented(r"```yaml\n(.*?)```"))
    db = tmp_path / "callstream.db"
    writer = Store(db, "t")  # the projector's own writer keeps the file open throughout
    writer.apply(
        [
            (0, 0, callback(sid(1), 1, "ringing", 0)),  # long ago: stuck
            (0, 1, callback(sid(2), 0, "completed", 5, CallDuration="3")),
        ]
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "datasette.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "datasette", "serve", *command[1:], "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=url, timeout=10) as c:

            def up() -> bool:
                assert proc.poll() is None, log.read_text()
                try:
                    return c.get("/-/versions.json").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(up, timeout=60, what="datasette serving")

            def rows(path: str) -> list[dict[str, object]]:
                r = c.get(path, params={"_shape": "array"})
                assert r.status_code == 200, r.text
                out: list[dict[str, object]] = r.json()
                return out

            stuck = rows("/callstream/stuck_ringing.json")
            assert [r["call_sid"] for r in stuck] == [sid(1)]
            rate = rows("/callstream/answer_rate_by_hour.json")
            assert [(r["ended_calls"], r["answered"], r["answer_rate"]) for r in rate] == [
                (1, 1, 1.0)
            ]
            assert rows("/callstream/rejected.json") == []
            # the writer goes on while Datasette holds the file; Datasette sees the new rows
            writer.apply([(0, 2, callback(sid(1), 3, "completed", 9, CallDuration="4"))])
            assert rows("/callstream/stuck_ringing.json") == []
            statuses = {r["call_sid"]: r["status"] for r in rows("/callstream/calls.json")}
            assert statuses == {sid(1): "completed", sid(2): "completed"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        writer.close()
