"""``callstream ingest --workers N`` for real: one embedded broker, real processes, kill -9.

* kill -9 of one worker under load loses nothing answered 204, and the supervisor starts
  it again; each call's callbacks reach the topic in the order they were answered;
* with the broker down, every worker spools; after a kill -9 of one of them and a restart
  with fewer workers, every spool (the dead worker's and the one no worker owns any more)
  is drained to the topic and the orphaned file is gone;
* Ctrl-C (SIGINT to the supervisor) stops every worker and exits 0;
* bad values of ``--workers`` get one line and exit 2.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from callstream import kafka_clients
from callstream.broker import EmbeddedBroker, free_port
from tests.conftest import make_settings
from tests.helpers import wait_until
from tests.ingest.support import (
    call_sid,
    callback,
    ingest_process,
    post_callback,
    worker_pids,
)
from tests.ingest.test_crash import Load, check_topic


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by its parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def spooled_callbacks(path: Path) -> list[tuple[str, int]]:
    """(CallSid, SequenceNumber) of every row of a spool file, in the order spooled."""
    db = sqlite3.connect(path)
    try:
        values = [v for (v,) in db.execute("SELECT value FROM spool ORDER BY id")]
    finally:
        db.close()
    out = []
    for v in values:
        params = dict(json.loads(v)["params"])
        out.append((params["CallSid"], int(params["SequenceNumber"])))
    return out


def spooled(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
    finally:
        db.close()


@pytest.mark.slow
def test_kill_9_of_one_worker_under_load_loses_nothing_answered(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = make_settings(fresh_broker.bootstrap, "tansu", tmp_path)
    kafka_clients.ensure_topics(settings)
    port = free_port()
    log = tmp_path / "ingest.log"
    with (
        ingest_process(settings, port, log, workers=2) as proc,
        Load(f"http://127.0.0.1:{port}", threads=6, keep_going=True) as load,
    ):
        wait_until(lambda: load.count() >= 300, timeout=60, what="300 callbacks answered")
        first = worker_pids(log)
        assert sorted(first) == [0, 1]
        os.kill(first[1], signal.SIGKILL)
        wait_until(
            lambda: worker_pids(log).get(1, first[1]) != first[1],
            timeout=30,
            what="worker 1 started again",
        )
        wait_until(
            lambda: log.read_bytes().count(b'"event": "ready"') >= 3,
            timeout=30,
            what="worker 1 ready again",
        )
        after = load.count()
        wait_until(lambda: load.count() >= after + 300, timeout=60, what="300 more answered")
        load.stop.set()  # every thread's last request is answered before Ctrl-C
        for t in load.threads:
            t.join(timeout=15)
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the supervisor stops every worker
        assert proc.wait(timeout=60) == 0, log.read_text()
    assert b"worker exited; restarting it" in log.read_bytes()
    assert not any(alive(p) for p in worker_pids(log).values())
    check_topic(settings, load.acked)


@pytest.mark.slow
def test_spools_of_dead_and_retired_workers_are_drained(
    fresh_broker: EmbeddedBroker, tmp_path: Path, kafka_socket_leaks: None
) -> None:
    settings = make_settings(fresh_broker.bootstrap, "tansu", tmp_path)
    kafka_clients.ensure_topics(settings)
    port = free_port()
    fresh_broker.kill()  # every callback goes to a worker's spool

    log = tmp_path / "spooling.log"
    with (
        ingest_process(settings, port, log, workers=3) as proc,
        Load(f"http://127.0.0.1:{port}", threads=6, keep_going=True) as load,
    ):
        wait_until(lambda: load.count() >= 300, timeout=60, what="300 callbacks spooled")
        os.kill(worker_pids(log)[2], signal.SIGKILL)  # one worker dies holding its spool
        after = load.count()
        wait_until(lambda: load.count() >= after + 100, timeout=60, what="100 more spooled")
        load.stop.set()
        for t in load.threads:
            t.join(timeout=15)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    files = {i: settings.spool.with_name(f"{settings.spool.stem}.w{i}.db") for i in range(3)}
    assert sum(spooled(f) for f in files.values()) >= len(load.acked)
    assert spooled(files[2]) > 0  # the killed worker's and its restart's rows
    per_file = {i: spooled_callbacks(f) for i, f in files.items()}

    # the broker comes back empty (memory storage); two workers now: w2 has no owner
    fresh_broker.restart()
    kafka_clients.ensure_topics(settings)
    log = tmp_path / "draining.log"
    with ingest_process(settings, port, log, workers=2) as proc:
        wait_until(
            lambda: not files[2].exists() and spooled(files[0]) + spooled(files[1]) == 0,
            timeout=60,
            what="every spool drained, the retired worker's file removed",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    assert b"adopted the spool of a worker that no longer runs" in log.read_bytes()
    # A thread whose worker was killed went on with another worker, and the workers' spools
    # drain side by side: one call's callbacks keep their order within each worker's
    # spool, not across them (the projector does not depend on that order).
    seen = check_topic(settings, load.acked, in_order=False)
    position = {cb: i for i, cb in enumerate(seen)}
    for rows in per_file.values():
        for sid in {s for s, _ in rows}:
            mine = [cb for cb in rows if cb[0] == sid]
            assert sorted(mine, key=position.__getitem__) == mine, (sid, mine)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "100000", "1e3", ""])
def test_bad_workers_values_get_one_line_and_exit_2(value: str, tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "callstream.cli", "ingest", "--workers", value],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("callstream ingest: error: argument --workers: "), r.stderr


def test_readyz_per_worker_and_metrics_summed(tmp_path: Path) -> None:
    """Without a broker each worker is ready on its spool and says which worker it is;
    /metrics on any worker sums every worker's."""
    settings = make_settings("127.0.0.1:1", "tansu", tmp_path)
    port = free_port()
    log = tmp_path / "ingest.log"
    with ingest_process(settings, port, log, workers=2) as proc:
        seen: set[int] = set()

        def both_answered() -> bool:
            # a fresh connection each time: the kernel hands it to either worker
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            body = r.json()
            assert r.status_code == 200 and body["kafka"] is False, body
            assert body["spool_writable"] is True
            seen.add(body["worker"])
            return seen == {0, 1}

        wait_until(both_answered, timeout=60, what="both workers answered /readyz")
        for seq in range(20):  # a connection each: the kernel spreads them over the workers
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
                assert post_callback(c, callback(call_sid(), "ringing", seq)).status_code == 204
        for _ in range(4):  # whichever worker answers the scrape, it shows the totals
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            lines = text.splitlines()
            assert 'callstream_ingest_callbacks_total{outcome="spooled"} 20.0' in lines, text
            assert "callstream_ingest_spool_depth 20.0" in lines, text
            voice = [x for x in lines if x.startswith("callstream_ingest_voice_calls_total{")]
            assert len(voice) == len(set(voice)) == 3, voice  # each route once, not per worker
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()


def test_a_worker_that_keeps_dying_stops_everything_with_one_line(tmp_path: Path) -> None:
    """The real supervisor, with workers that exit at once with status 3."""
    from callstream.errors import StartupError
    from ingest.workers import MAX_FAST_FAILURES, Supervisor

    settings = make_settings("127.0.0.1:1", "tansu", tmp_path)
    sup = Supervisor(settings, "127.0.0.1", free_port(), 2, child=("-c", "raise SystemExit(3)"))
    with pytest.raises(StartupError) as e:
        sup.run()
    assert re.fullmatch(
        rf"worker [01] exited {MAX_FAST_FAILURES} times within 10 s of its start "
        r"\(last status 3\); stopped all workers \(see the log lines above\)",
        str(e.value),
    ), str(e.value)
    assert "\n" not in str(e.value)
    assert all(w.proc.poll() is not None for w in sup.workers.values())


@pytest.mark.slow
def test_workers_stop_themselves_after_a_kill_9_of_the_supervisor(tmp_path: Path) -> None:
    settings = make_settings("127.0.0.1:1", "tansu", tmp_path)
    port = free_port()
    log = tmp_path / "ingest.log"
    with ingest_process(settings, port, log, workers=2) as proc:
        pids = worker_pids(log)
        assert len(pids) == 2 and all(alive(p) for p in pids.values())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(
            lambda: not any(alive(p) for p in pids.values()),
            timeout=60,
            what="both workers gone after their supervisor",
        )
    assert log.read_bytes().count(b"Finished server process") == 2  # a graceful stop each
