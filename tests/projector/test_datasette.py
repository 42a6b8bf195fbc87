"""Datasette on the live database, through ``callstream datasette``, for real.

Datasette is served as its own process on the projector's file while the file is being
written (WAL), with the metadata shipped in the package; the canned queries, the defaults
(newest calls first, facets) and the link from a call to its events are checked through
Datasette's JSON API and, when Chromium is installed, in a real headless browser.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from callstream.broker import free_port
from projector.cli_datasette import calls_path
from projector.store import Store
from tests.helpers import wait_until
from tests.projector.support import callback, sid

DOC = Path(__file__).resolve().parents[2] / "docs" / "projector.md"


@dataclass
class Served:
    url: str
    db: str  # the name Datasette gives the file
    writer: Store
    log: Path

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=10)

    def rows(self, path: str) -> list[dict[str, object]]:
        r = self.get(path, _shape="array")
        assert r.status_code == 200, r.text
        out: list[dict[str, object]] = r.json()
        return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``callstream datasette --db live.db`` on a file the projector's writer keeps open."""
    db = tmp_path / "live.db"  # not "callstream.db": the metadata must follow the file's name
    writer = Store(db, "t")
    writer.apply(
        [
            (0, 0, callback(sid(1), 1, "ringing", 0)),  # long ago: stuck
            (0, 1, callback(sid(2), 0, "completed", 5, CallDuration="3")),
            (0, 2, callback(sid(3), 0, "initiated", 50)),
            (0, 3, callback(sid(3), 1, "ringing", 51)),
        ]
    )
    port = free_port()
    log = tmp_path / "datasette.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "callstream", "datasette", "--db", str(db), "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    s = Served(f"http://127.0.0.1:{port}", "live", writer, log)
    try:

        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return s.get("/-/versions.json").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=60, what="datasette serving")
        yield s
    finally:
        proc.terminate()  # SIGTERM, as a supervisor stops it
        proc.wait(timeout=10)
        writer.close()
    # the Datasette server went with it: nothing is left listening on the port
    wait_until(lambda: not _listening(port), timeout=10, what="datasette's server stopped")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_the_documented_command_is_the_shipped_one() -> None:
    text = DOC.read_text()
    assert "callstream datasette" in text
    assert "pip install 'callstream[datasette]'" in text


def test_canned_queries_answer_while_the_projector_writes(served: Served) -> None:
    db = served.db
    stuck = served.rows(f"/{db}/stuck_ringing.json")
    assert [r["call_sid"] for r in stuck] == [sid(1), sid(3)]
    rate = served.rows(f"/{db}/answer_rate_by_hour.json")
    assert [(r["ended_calls"], r["answered"], r["answer_rate"]) for r in rate] == [(1, 1, 1.0)]
    assert served.rows(f"/{db}/rejected.json") == []
    # the writer goes on while Datasette holds the file; Datasette sees the new rows
    served.writer.apply([(0, 4, callback(sid(1), 3, "completed", 9, CallDuration="4"))])
    assert [r["call_sid"] for r in served.rows(f"/{db}/stuck_ringing.json")] == [sid(3)]
    statuses = {r["call_sid"]: r["status"] for r in served.rows(f"/{db}/calls.json")}
    assert statuses == {sid(1): "completed", sid(2): "completed", sid(3): "ringing"}
    recent = served.rows(f"/{db}/recent_calls.json")
    assert [r["call_sid"] for r in recent] == [sid(3), sid(2), sid(1)]


def test_defaults_newest_first_facets_and_a_link_to_the_events(served: Served) -> None:
    db = served.db
    page = served.get(f"/{db}/calls.json", _extra="facet_results")
    assert page.status_code == 200, page.text
    body = page.json()
    assert [r[0] for r in body["rows"]] == [sid(3), sid(2), sid(1)]  # newest first
    assert {"status", "direction"} <= set(body["facet_results"])
    # a call's page links to its events through the declared foreign key
    row = served.get(f"/{db}/calls/{sid(3)}.json", _extras="foreign_key_tables")
    assert row.status_code == 200, row.text
    links = row.json()["foreign_key_tables"]
    assert [(t["other_table"], t["count"]) for t in links] == [("call_events", 2)]
    html = served.get(f"/{db}/calls/{sid(3)}").text
    assert f"/{db}/call_events?call_sid={sid(3)}" in html
    # long cells (a call's params JSON) are cut short in tables
    events = served.get(f"/{db}/call_events").text
    assert "\u2026" in events or "&hellip;" in events
    assert '"Timestamp"' not in events  # the params JSON is cut before the 5th parameter


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def headless(browser: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        timeout=90,
        check=False,
    )


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def test_the_calls_page_renders_in_a_headless_browser(served: Served, tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    url = served.url + calls_path(served.db)
    dom = headless(browser, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    html = dom.stdout.decode()
    assert "sorted by started_at descending" in html
    # the rows in the browser's DOM, newest first, with the columns asked for
    shown = [m for m in dict.fromkeys(re.findall(r"CA[0-9a-f]{32}", html))]
    assert shown == [sid(3), sid(2), sid(1)]
    headers = re.findall(r'<th class="col-([a-z_]+)"', html)
    assert headers[:3] == ["call_sid", "status", "direction"] and "started_at" in headers
    assert "account_sid" not in headers
    shot = tmp_path / "calls.png"
    r = headless(browser, "--window-size=1280,900", f"--screenshot={shot}", url)
    assert r.returncode == 0 and shot.exists(), r.stderr.decode(errors="replace")[-2000:]
    assert png_size(shot) == (1280, 900)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank or an error screen


def test_without_datasette_installed_the_command_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse
    import importlib.util

    from callstream.errors import CliError
    from projector import cli_datasette

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "datasette" else real(name)
    )
    Store(tmp_path / "x.db", "t").close()
    args = argparse.Namespace(db=str(tmp_path / "x.db"), host="127.0.0.1", port=free_port())
    with pytest.raises(
        CliError, match=r"^Datasette is not installed: pip install 'callstream\[datasette\]'$"
    ):
        cli_datasette.run(args)
