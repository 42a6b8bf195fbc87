"""``callstream up`` run again in the same folder keeps every call: after Ctrl-C, after
``kill -9`` of up itself (which leaves no process and no port behind), and a rebuild from
the restored log reproduces the live tables row for row."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from callstream import kafka_clients
from callstream.archive import Archiver
from callstream.archive_store import ArchiveStore
from callstream.broker import EmbeddedBroker
from callstream.up_history import restore_history
from tests.conftest import make_settings
from tests.helpers import wait_until
from tests.projector.support import call_log, produce, tables
from tests.projector.test_consumer import project
from tests.test_up import Up, _closed

pytestmark = pytest.mark.slow


def cs(tmp: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI from another terminal in the same folder, after '. ./callstream-up.env'."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "KAFKA_"))}
    for line in (tmp / "callstream-up.env").read_text().splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export ") :].partition("=")
            env[k] = v
    env["CALLSTREAM_DB"] = str(tmp / "callstream.db")
    return subprocess.run(
        [sys.executable, "-m", "callstream", *argv],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def calls(tmp: Path) -> dict[str, str]:
    return {c["call_sid"]: c["status"] for c in json.loads(cs(tmp, "calls", "--json").stdout)}


def dial(tmp: Path, n: int, before: int) -> dict[str, str]:
    for _ in range(n):
        cs(tmp, "dial", "--to", "+15005550006", "--from", "+15005550001", "--twiml", "<Response/>")

    def all_done() -> dict[str, str] | None:
        now = calls(tmp)
        done = len(now) == before + n and all(s == "completed" for s in now.values())
        return now if done else None

    return wait_until(all_done, timeout=60, what=f"{before + n} completed calls")


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p}
        out |= kids
        todo += list(kids)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_up_keeps_every_call_across_ctrl_c_and_kill_9(tmp_path: Path) -> None:
    up = Up(tmp_path, "--speed", "4")
    try:
        up.wait_for("Ctrl-C stops everything.")
        assert "history    none yet" in up.output()
        first = dial(tmp_path, 3, 0)
    finally:
        assert up.stop() == 0, up.output()

    up = Up(tmp_path, "--speed", "4")  # the second run, after Ctrl-C
    try:
        up.wait_for("Ctrl-C stops everything.")
        assert "records restored from callstream-archive.db" in up.output()
        assert calls(tmp_path) == first
        second = dial(tmp_path, 1, len(first))
        kids = descendants(up.proc.pid)
        assert len(kids) >= 6  # broker, emulator, archive, projector (+ its API), ingest...
        up.proc.send_signal(signal.SIGKILL)
        up.proc.wait(timeout=10)
        wait_until(lambda: not any(alive(p) for p in kids), timeout=20, what="children gone")
        for name, port in up.ports.items():
            wait_until(lambda port=port: _closed(port), timeout=10, what=f"{name} port closed")
    finally:
        up.stop()

    up = Up(tmp_path, "--speed", "4")  # the third run, after kill -9
    try:
        up.wait_for("Ctrl-C stops everything.")
        assert "Traceback" not in up.output()
        assert calls(tmp_path) == second
        cs(tmp_path, "rebuild", "--db", str(tmp_path / "new.db"))
        with (
            sqlite3.connect(tmp_path / "callstream.db") as live,
            sqlite3.connect(tmp_path / "new.db") as new,
        ):
            assert tables(live) == tables(new)
    finally:
        assert up.stop() == 0, up.output()


def test_a_database_ahead_of_the_archive_is_rebuilt_from_the_restored_log(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The projector applied records the archiver never copied (a kill -9 between the
    two): up keeps the old file aside and rebuilds from the restored log."""
    s = make_settings(fresh_broker.bootstrap, "tansu", tmp_path, archive=str(tmp_path / "a.db"))
    kafka_clients.ensure_topics(s)
    produce(s, call_log(30))
    store = ArchiveStore(s.archive)
    Archiver(s, store, kafka_clients.TANSU).run(once=True)
    store.close()
    produce(s, call_log(10, start=100))  # never archived
    project(s, s.db)
    fresh_broker.restart()  # the log is gone
    kafka_clients.ensure_topics(s)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "KAFKA_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=fresh_broker.bootstrap,
        CALLSTREAM_TOPIC_PREFIX=s.topic_prefix,
        CALLSTREAM_KAFKA_PROFILE="tansu",
    )
    said: list[str] = []
    restore_history(s, env, said.append)
    assert f"records restored from {s.archive}" in said[0]
    assert "records the log does not" in said[1] and "rebuilding it from the log" in said[1]
    assert (tmp_path / "callstream.db.ahead").exists()
    with sqlite3.connect(s.db) as c:
        assert c.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 30
    assert project(s, s.db).progress.records == 0  # the projector accepts the restored log
