"""``callstream projector`` as a real process: SIGKILL at any moment, a log gone backwards."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from callstream import kafka_clients
from callstream.broker import free_port
from callstream.settings import Settings
from tests.conftest import make_settings
from tests.helpers import wait_until
from tests.projector.support import call_log, produce, tables
from tests.projector.test_consumer import reference

pytestmark = pytest.mark.slow


class ProjectorProcess:
    def __init__(
        self, settings: Settings, tmp: Path, port: int | None = None, **env_extra: str
    ) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.err = tmp / f"projector-{self.port}.log"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
            "CALLSTREAM_KAFKA_PROFILE": settings.kafka_profile or "",
            "CALLSTREAM_TOPIC_PREFIX": settings.topic_prefix,
            "CALLSTREAM_DB": str(settings.db),
            **env_extra,
        }
        env.pop("CALLSTREAM_API_TOKEN", None)
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "callstream.cli", "projector", "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stderr(self) -> str:
        return self.err.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@contextmanager
def ready_projector(settings: Settings, tmp: Path) -> Iterator[ProjectorProcess]:
    """A ``callstream projector`` process, once ``/readyz`` says so; killed afterwards."""
    p = ProjectorProcess(settings, tmp)
    try:
        wait_until(p.ready, timeout=30, what="projector ready")
        yield p
    finally:
        p.kill()


def applied(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return int(
                c.execute("SELECT COALESCE(SUM(next_offset), 0) FROM projector_offsets").fetchone()[
                    0
                ]
            )
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def kill_once_past(settings: Settings, tmp: Path, fraction: float, total: int, **env: str) -> None:
    """Start a projector, SIGKILL it once it has applied ``fraction`` of the ``total``
    records (while catching up it is applying a batch nearly all the time)."""
    p = ProjectorProcess(settings, tmp, **env)
    try:

        def progressed() -> bool:
            return applied(settings.db) >= fraction * total or p.proc.poll() is not None

        wait_until(progressed, timeout=90, what="some progress")
        assert p.proc.poll() is None, p.stderr()
    finally:
        p.kill()
    assert applied(settings.db) < total, "finished before the kill; make the log longer"


def test_sigkill_at_any_moment_then_restart_gives_the_same_tables(
    settings: Settings, tmp_path: Path
) -> None:
    pairs = call_log(8000, seed=5)
    produce(settings, pairs)
    total = len(pairs)
    for fraction in (0.15, 0.5):
        kill_once_past(settings, tmp_path, fraction, total)
    p = ProjectorProcess(settings, tmp_path)
    try:
        wait_until(
            lambda: p.ready() and applied(settings.db) == total,
            timeout=60,
            what="caught up after restart",
        )
        p.proc.send_signal(signal.SIGTERM)
        assert p.proc.wait(timeout=20) == 0, p.stderr()
    finally:
        p.kill()
    with sqlite3.connect(settings.db) as conn:
        got: dict[str, Any] = tables(conn)
    assert got == reference(settings, tmp_path / "ref.db", total)


def interleaved(pairs: list[tuple[str, bytes]], spread: int = 400) -> list[tuple[str, bytes]]:
    """The same records with each call's callbacks spread over ``spread`` calls' worth of
    log, as on a real log where thousands of calls are in flight: nearly every record of a
    poll belongs to another call, so the writer's cache of calls in flight does the work."""
    rnd = random.Random(9)
    seen: dict[str, int] = {}
    timed = []
    for key, value in pairs:
        n = seen.setdefault(key, len(seen))
        timed.append((n + rnd.uniform(0, spread), key, value))
    return [(k, v) for _, k, v in sorted(timed)]


def test_sigkill_mid_batch_on_an_interleaved_log_then_restart_equals_rebuild(
    settings: Settings, tmp_path: Path
) -> None:
    """kill -9 while catching up (a batch is being applied nearly all the time), with a
    small cache that evicts and then the default one, then a restart: the tables are those
    ``callstream rebuild`` makes from the same log."""
    pairs = interleaved(call_log(6000, seed=13))
    produce(settings, pairs)
    total = len(pairs)
    for fraction, cache in ((0.2, "300"), (0.55, "50000")):
        kill_once_past(settings, tmp_path, fraction, total, CALLSTREAM_PROJECTOR_CACHE_CALLS=cache)
    p = ProjectorProcess(settings, tmp_path)
    try:
        wait_until(lambda: applied(settings.db) == total, timeout=90, what="caught up")
        p.proc.send_signal(signal.SIGTERM)
        assert p.proc.wait(timeout=20) == 0, p.stderr()
    finally:
        p.kill()
    new = tmp_path / "rebuilt.db"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "CALLSTREAM_KAFKA_PROFILE": settings.kafka_profile or "",
        "CALLSTREAM_TOPIC_PREFIX": settings.topic_prefix,
    }
    done = subprocess.run(
        [sys.executable, "-m", "callstream.cli", "rebuild", "--db", str(new)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(settings.db) as a, sqlite3.connect(new) as b:
        live, rebuilt = tables(a), tables(b)
    assert len(live["calls"]) == 6000 and len(live["rejected_events"]) == 4
    assert live == rebuilt


def test_a_log_gone_backwards_exits_nonzero_with_the_way_out(
    fresh_broker: Any, tmp_path: Path
) -> None:
    s = make_settings(fresh_broker.bootstrap, "tansu", tmp_path)
    kafka_clients.ensure_topics(s)
    produce(s, call_log(30))
    with ready_projector(s, tmp_path) as p:
        fresh_broker.restart()
        kafka_clients.ensure_topics(s)
        produce(s, call_log(1))
        rc = wait_until(lambda: p.proc.poll(), timeout=30, what="projector exit")
        assert rc == 1
        last = p.stderr().strip().splitlines()[-1]
        assert last.startswith("callstream projector: error: the log went backwards")
        assert "callstream rebuild" in last


def test_another_writer_holding_the_lock_is_named_in_the_exit_line(
    settings: Settings, tmp_path: Path
) -> None:
    """The projector must be the database's only writer. A brief lock from another process
    is waited out (tests/projector/test_store.py); one held past the busy timeout stops
    the projector with a line that says what to look for."""
    with ready_projector(settings, tmp_path) as p:
        pairs = call_log(5, seed=9)
        other = sqlite3.connect(settings.db, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            produce(settings, pairs)
            wait_until(lambda: p.proc.poll() is not None, timeout=30, what="projector exit")
        finally:
            other.close()
        assert p.proc.returncode == 1, p.stderr()
        last = p.stderr().strip().splitlines()[-1]
        assert last.startswith("callstream projector: error: another process held the write lock")
    assert applied(settings.db) == 0  # the batch was rolled back whole
    with ready_projector(settings, tmp_path):  # and is applied once the lock is gone
        wait_until(lambda: applied(settings.db) == len(pairs), timeout=30, what="caught up")


# -- the API's own process ----------------------------------------------------------------


def api_child(p: ProjectorProcess) -> int:
    """The pid of the projector's API process (Linux: from /proc)."""

    def find() -> int | None:
        kids = Path(f"/proc/{p.proc.pid}/task/{p.proc.pid}/children").read_text().split()
        for k in kids:
            cmd = Path(f"/proc/{k}/cmdline").read_bytes().split(b"\0")
            if b"projector.api_process" in cmd:
                return int(k)
        return None

    return wait_until(find, timeout=10, what="the API process")


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited, not yet reaped


def refused(url: str) -> bool:
    try:
        httpx.get(url + "/livez", timeout=2)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and relies on PR_SET_PDEATHSIG"
)


@linux_only
def test_the_api_runs_in_its_own_process_and_sigterm_stops_both(
    settings: Settings, tmp_path: Path
) -> None:
    produce(settings, call_log(20))
    with ready_projector(settings, tmp_path) as p:
        child = api_child(p)
        assert child != p.proc.pid
        # the API answers from the child with the consumer's progress fed to it
        m = httpx.get(p.url + "/metrics", timeout=5).text
        assert "callstream_projector_caught_up 1.0" in m
        first = call_log(20)[0][0]
        assert httpx.get(f"{p.url}/calls/{first}", timeout=5).status_code == 200
        p.proc.send_signal(signal.SIGTERM)
        assert p.proc.wait(timeout=20) == 0, p.stderr()
        assert gone(child)
        assert refused(p.url)


@linux_only
def test_kill9_of_the_projector_takes_its_api_process_with_it(
    settings: Settings, tmp_path: Path
) -> None:
    with ready_projector(settings, tmp_path) as p:
        child = api_child(p)
        p.kill()
        wait_until(lambda: gone(child), timeout=10, what="the API process to die")
        wait_until(lambda: refused(p.url), timeout=10, what="the port to close")


@linux_only
def test_when_the_api_process_dies_the_projector_stops_and_says_so(
    settings: Settings, tmp_path: Path
) -> None:
    with ready_projector(settings, tmp_path) as p:
        os.kill(api_child(p), signal.SIGKILL)
        rc = wait_until(lambda: p.proc.poll(), timeout=20, what="projector exit")
        assert rc == 1, p.stderr()
        last = p.stderr().strip().splitlines()[-1]
        assert last.startswith("callstream projector: error: the projector's API process exited")


def test_a_taken_port_is_one_line_and_a_nonzero_exit(settings: Settings, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        p = ProjectorProcess(settings, tmp_path, port=taken.getsockname()[1])
        try:
            rc = p.proc.wait(timeout=30)
        finally:
            p.kill()
    assert rc == 1
    lines = p.stderr().strip().splitlines()
    assert lines[-1].startswith(
        f"callstream projector: error: could not listen on 127.0.0.1:{p.port}"
    )
    assert "Traceback" not in p.stderr()


@linux_only
def test_a_paused_api_process_does_not_hold_the_projector_up(
    settings: Settings, tmp_path: Path
) -> None:
    """The API process is frozen (SIGSTOP): the consumer carries on, and a SIGTERM still
    stops the projector, which kills the frozen child instead of waiting on it forever."""
    with ready_projector(settings, tmp_path) as p:
        child = api_child(p)
        os.kill(child, signal.SIGSTOP)
        pairs = call_log(200, seed=21)
        produce(settings, pairs)
        wait_until(lambda: applied(settings.db) == len(pairs), timeout=30, what="applied")
        p.proc.send_signal(signal.SIGTERM)
        assert p.proc.wait(timeout=30) == 0, p.stderr()
        assert gone(child)
        assert "did not stop; killing it" in p.stderr()


def test_bind_waits_briefly_for_a_port_that_is_being_released(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Right after a crash the old API process may still hold the port for a moment."""
    import errno
    import socket
    import threading
    import time

    from projector import api_process

    retried = threading.Event()

    class Clock:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(s: float) -> None:
            retried.set()
            time.sleep(s)

    monkeypatch.setattr(api_process, "time", Clock)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    with pytest.raises(OSError) as taken:
        api_process.bind("127.0.0.1", port, retry_s=0.3)  # held throughout: fails
    assert taken.value.errno == errno.EADDRINUSE
    retried.clear()
    got: list[socket.socket] = []
    t = threading.Thread(target=lambda: got.append(api_process.bind("127.0.0.1", port)))
    t.start()
    assert retried.wait(10), "bind never retried"
    holder.close()  # released while bind is retrying
    t.join(timeout=10)
    assert got and got[0].getsockname()[1] == port
    got[0].close()
