"""Scenario 3: the projector killed with kill -9 mid-batch, then restarted.

To land the kill inside a batch, the projector is first paused (SIGSTOP) until a backlog
of several hundred callbacks is waiting, then resumed and killed (by a watcher process
polling the database's write lock) inside its third write transaction, while that batch
is open; the report counts the kills after which the stored offsets had indeed not moved. After
the restart the tables must equal those of a clean run (``callstream rebuild`` of the same
topic), with no callback counted twice.
"""

from __future__ import annotations

import signal
import subprocess
import sys
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
    make_pipeline,
    record,
    settings_of,
    verify_after_load,
    wait_projector_caught_up,
)
from tests.helpers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


# Runs in a process of its own (no GIL shared with the load threads): polls the database's
# write lock and SIGKILLs the projector inside its ``skip + 1``-th write transaction, then
# prints the offsets applied just before that transaction began.
KILLER = r"""
import os, signal, sqlite3, sys, time
db, pid, skip = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def applied():
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return sum(o for (o,) in c.execute("SELECT next_offset FROM projector_offsets"))
    finally:
        c.close()

last, episodes, was_locked, polls = applied(), 0, False, 0
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    polls += 1
    c = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("ROLLBACK")
        locked = False
    except sqlite3.OperationalError:
        locked = True
    finally:
        c.close()
    if locked and not was_locked:
        episodes += 1
        if episodes > skip:
            os.kill(pid, signal.SIGKILL)
            print(last)
            sys.exit(0)
    was_locked = locked
    if not locked:
        last = applied()
print(f"{episodes} write transactions seen in {polls} polls", file=sys.stderr)
sys.exit(1)
"""


def kill_inside_a_transaction(pid: int, db: Path, skip: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", KILLER, str(db), str(pid), str(skip)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_projector_killed_mid_batch_then_restarted(tmp_path: Path) -> None:
    ledger = Ledger()
    with make_pipeline(tmp_path) as p:
        p.start("broker", "emulator", "projector", "ingest")
        db = Path(p.env["CALLSTREAM_DB"])
        proj = p["projector"]
        watcher = TopicWatcher(settings_of(p))
        kills = mid_batch = 0
        recoveries: list[float] = []
        try:
            with DirectLoad(p, ledger, rate=150) as load, EmulatorLoad(p, rate=4) as emu:
                wait_until(lambda: ledger.count_acked() >= 200, timeout=30, what="load under way")
                while kills < 3 and not mid_batch:
                    assert proj.proc is not None
                    proj.proc.send_signal(signal.SIGSTOP)
                    n = ledger.count_acked()
                    wait_until(
                        lambda n=n: ledger.count_acked() >= n + 600,
                        timeout=30,
                        what="a backlog while the projector is paused",
                    )
                    killer = kill_inside_a_transaction(proj.proc.pid, db, skip=2)
                    proj.proc.send_signal(signal.SIGCONT)
                    out, err = killer.communicate(timeout=40)
                    assert killer.returncode == 0, (
                        f"the projector was never seen writing ({err.strip()}); its log:\n"
                        + proj.tail()
                    )
                    wait_until(lambda: not proj.alive(), what="projector killed")
                    proj.kill9()
                    kills += 1
                    mid_batch += sum(applied(db).values()) == int(out)
                    proj.start(ready="/livez")
                    restarted = time.monotonic()
                    wait_projector_caught_up(p, watcher, db)
                    recoveries.append(time.monotonic() - restarted)
                load.stop()
                emu.stop()
            tally, lost, dup = verify_after_load(p, tmp_path, ledger, emu, watcher)
        finally:
            watcher.close()
        record(
            Figures(
                "projector kill -9 mid-batch",
                sent=len(ledger.snapshot()) + tally.attempted,
                acked=ledger.count_acked() + tally.acked,
                lost=lost,
                duplicated=dup,
                recovery_s=max(recoveries),
                note="recovery: restart to caught up (lag 0) under load",
                extra={"kills": kills, "kills_before_any_commit": mid_batch},
            )
        )
