"""Scenario 1: the broker killed and restarted mid-load.

The embedded broker keeps everything in memory: its restart (same port, topics recreated)
is a *new, empty* log. What callstream must do then:

* ingest answers every callback while the broker is down by committing it to its spool
  (which survives a kill -9 of ingest meanwhile: the test kills and restarts it while it
  holds callbacks), and drains the spool into the new topic once the broker is back: every
  callback answered 204 after the kill is in the new topic;
* the projector, whose database has applied offsets the new log does not have, must not
  skip or double-count: it stops with a clear message and a non-zero exit status; the
  documented recovery (``callstream rebuild --db NEW``, projector on NEW) then gives the
  projected state of the new log.

Callbacks acknowledged before the kill were in the old log (checked before the kill) and
went with the broker's memory; on Apache Kafka, whose log survives a restart, nothing is
lost and every service resumes by itself (not testable here: no Kafka on these machines).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.support import (
    DirectLoad,
    EmulatorLoad,
    Figures,
    Ledger,
    TopicWatcher,
    applied,
    emulator_tally,
    make_pipeline,
    record,
    settings_of,
    verify,
    wait_emulator_settled,
    wait_projector_caught_up,
    wait_spool_empty,
)
from tests.helpers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def test_broker_restart_mid_load_spools_drains_and_projector_stops(tmp_path: Path) -> None:
    ledger = Ledger()
    with make_pipeline(tmp_path) as p:
        p.start("broker", "emulator", "projector", "ingest")
        old = TopicWatcher(settings_of(p))
        with DirectLoad(p, ledger, rate=150) as load, EmulatorLoad(p, rate=4) as emu:
            wait_until(lambda: ledger.count_acked() >= 400, timeout=30, what="load under way")
            checked = time.time()
            before = {x.key for x in ledger.snapshot() if x.code == 204 and x.done < checked}
            assert not old.wait_for(before), "acknowledged callbacks missing before the kill"
            old.close()
            p["broker"].kill9()
            killed = time.time()
            wait_until(
                lambda: len(ledger.acked(since=killed)) >= 150,
                timeout=30,
                what="callbacks answered while the broker is down",
            )
            # the spool must survive a crash of ingest too: kill it while it holds callbacks
            p["ingest"].kill9()
            p["ingest"].start()
            revived = time.time()
            wait_until(
                lambda: len(ledger.acked(since=revived)) >= 50,
                timeout=30,
                what="callbacks spooled by the restarted ingest",
            )
            p.start_broker()
            restarted = time.time()
            n = len(ledger.acked(since=restarted))
            wait_until(
                lambda: len(ledger.acked(since=restarted)) >= n + 150,
                timeout=30,
                what="load after the restart",
            )
            load.stop()
            emu.stop()
        # the projector detects the reset and says so
        proj = p["projector"]
        wait_until(lambda: not proj.alive(), timeout=30, what="projector stops on the reset")
        stopped = time.time()
        assert proj.proc is not None and proj.proc.returncode != 0, proj.tail()
        log = proj.log_text()
        assert "the log went backwards" in log, proj.tail()
        assert "callstream rebuild --db NEW" in log, proj.tail()

        wait_emulator_settled(p, emu.sids)
        tally = emulator_tally(p, emu.sids, since=killed)
        after = ledger.acked(since=killed) | tally.acked_keys
        new = TopicWatcher(settings_of(p))
        missing = new.wait_for(after)
        drained = time.time()
        assert not missing, f"{len(missing)} callbacks answered 204 after the kill are missing"
        wait_spool_empty(p)

        # the documented recovery: rebuild into a new file and run the projector on it
        fresh = tmp_path / "after-reset.db"
        p.add("projector-new", "projector", "--db", str(fresh)).start()
        lost, dup = verify(
            p,
            tmp_path,
            acked=after,
            watcher=new,
            emulator_sids=emu.sids,
            terminal_acked=tally.terminal_acked,
            db=fresh,
            name="projector-new",
        )
        posts = ledger.snapshot()
        old_only = {x.key for x in posts if x.code == 204 and x.sent < killed} - new.keys()
        record(
            Figures(
                "broker restart (memory lost)",
                sent=len(posts) + tally.attempted,
                acked=ledger.count_acked() + tally.acked,
                lost=lost,
                duplicated=dup,
                recovery_s=drained - restarted,
                note="recovery: broker restart to every post-kill 204 in the new topic",
                extra={
                    "acked_after_kill": len(after),
                    "in_old_log_only": len(old_only),
                    "projector_stopped_after_s": round(stopped - restarted, 2),
                    "projector_exit": proj.proc.returncode,
                },
            )
        )
        new.close()


def test_broker_restart_detected_even_when_the_new_log_outgrows_the_old(tmp_path: Path) -> None:
    """The same reset, but the projector is paused (SIGSTOP: a long GC pause, a slow disk, a
    reconnect backoff) while the broker restarts and the spool drains, so by the time it
    looks again the new log is *longer* than the offsets it applied from the old one: the
    high watermark alone no longer shows the reset. It must still stop and say so, not
    resume at its old offsets in a different log (which skips the new log's first records
    and mixes two logs in one database)."""
    ledger = Ledger()
    with make_pipeline(tmp_path) as p:
        p.start("broker", "projector", "ingest")
        db = Path(p.env["CALLSTREAM_DB"])
        proj = p["projector"]
        assert proj.proc is not None
        with DirectLoad(p, ledger, rate=150) as load:
            wait_until(lambda: ledger.count_acked() >= 200, timeout=30, what="load under way")
            old = TopicWatcher(settings_of(p))
            try:
                wait_projector_caught_up(p, old, db)
            finally:
                old.close()
            before = applied(db)
            proj.proc.send_signal(signal.SIGSTOP)
            p["broker"].kill9()
            p.start_broker()
            restarted = time.time()
            n = ledger.count_acked()
            wait_until(
                lambda: ledger.count_acked() >= n + 3 * sum(before.values()),
                timeout=40,
                what="the new log outgrowing the old offsets",
            )
            load.stop()
        wait_spool_empty(p)
        new = TopicWatcher(settings_of(p))
        try:
            ends = new.ends()
            missing = new.wait_for(ledger.acked(since=restarted))
        finally:
            new.close()
        assert not missing, f"{len(missing)} callbacks answered 204 after the restart are missing"
        assert all(ends[k] > v for k, v in before.items()), (ends, before)
        proj.proc.send_signal(signal.SIGCONT)
        resumed = time.time()
        wait_until(lambda: not proj.alive(), timeout=30, what="projector stops on the reset")
        assert proj.proc.returncode != 0, proj.tail()
        assert "callstream rebuild --db NEW" in proj.log_text(), proj.tail()
        posts = ledger.snapshot()
        record(
            Figures(
                "broker restart, projector paused across it",
                sent=len(posts),
                acked=ledger.count_acked(),
                lost=len(missing),
                duplicated=0,
                recovery_s=time.time() - resumed,
                note="recovery: SIGCONT to the projector's exit with the reset message",
                extra={"old_offsets": sum(before.values()), "new_log": sum(ends.values())},
            )
        )


def test_broker_restart_detected_by_a_projector_started_after_it(tmp_path: Path) -> None:
    """The projector is down (kill -9) while the broker restarts and the new log grows past
    its stored offsets; started again, it must still refuse the new log rather than resume
    at its old offsets in it."""
    ledger = Ledger()
    with make_pipeline(tmp_path) as p:
        p.start("broker", "projector", "ingest")
        db = Path(p.env["CALLSTREAM_DB"])
        proj = p["projector"]
        with DirectLoad(p, ledger, rate=150) as load:
            wait_until(lambda: ledger.count_acked() >= 200, timeout=30, what="load under way")
            old = TopicWatcher(settings_of(p))
            try:
                wait_projector_caught_up(p, old, db)
            finally:
                old.close()
            before = applied(db)
            proj.kill9()
            p["broker"].kill9()
            p.start_broker()
            n = ledger.count_acked()
            wait_until(
                lambda: ledger.count_acked() >= n + 3 * sum(before.values()),
                timeout=40,
                what="the new log outgrowing the old offsets",
            )
            load.stop()
        wait_spool_empty(p)
        new = TopicWatcher(settings_of(p))
        assert all(new.ends()[k] > v for k, v in before.items())
        proj.start(ready=None)
        # either it stops (right) or it catches up on the new log from the old offsets (wrong)
        wait_until(
            lambda: not proj.alive() or applied(db) == {k: v for k, v in new.ends().items() if v},
            timeout=30,
            what="the projector stops or resumes",
        )
        new.close()
        assert not proj.alive(), "the projector resumed at its old offsets in a new log"
        assert proj.proc is not None and proj.proc.returncode != 0
        assert "callstream rebuild --db NEW" in proj.log_text(), proj.tail()
