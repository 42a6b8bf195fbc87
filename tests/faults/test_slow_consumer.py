"""Scenario 6: a slow consumer. The projector is paused (SIGSTOP) under load for about ten
seconds (the issue says a minute; ten keep the suite inside its time budget and already
leave well over a thousand callbacks waiting), then resumed (SIGCONT): it catches up, its
lag returns to 0 and the state is exact. Ingest is not slowed down at all meanwhile."""

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
    make_pipeline,
    record,
    settings_of,
    verify_after_load,
    wait_projector_caught_up,
)
from tests.helpers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def test_projector_paused_under_load_catches_up(tmp_path: Path) -> None:
    ledger = Ledger()
    with make_pipeline(tmp_path) as p:
        p.start("broker", "emulator", "projector", "ingest")
        db = Path(p.env["CALLSTREAM_DB"])
        proj = p["projector"]
        assert proj.proc is not None
        watcher = TopicWatcher(settings_of(p))
        try:
            with DirectLoad(p, ledger, rate=150) as load, EmulatorLoad(p, rate=4) as emu:
                wait_until(lambda: ledger.count_acked() >= 200, timeout=30, what="load under way")
                proj.proc.send_signal(signal.SIGSTOP)
                paused = time.monotonic()
                n = ledger.count_acked()
                wait_until(
                    lambda: ledger.count_acked() >= n + 1500,
                    timeout=40,
                    what="about ten seconds of callbacks while the projector is paused",
                )
                lag = sum(watcher.ends().values()) - sum(applied(db).values())
                proj.proc.send_signal(signal.SIGCONT)
                resumed = time.monotonic()
                wait_projector_caught_up(p, watcher, db)
                caught_up = time.monotonic()
                load.stop()
                emu.stop()
            tally, lost, dup = verify_after_load(p, tmp_path, ledger, emu, watcher)
        finally:
            watcher.close()
        assert lag > 0
        record(
            Figures(
                "slow consumer (projector SIGSTOP)",
                sent=len(ledger.snapshot()) + tally.attempted,
                acked=ledger.count_acked() + tally.acked,
                lost=lost,
                duplicated=dup,
                recovery_s=caught_up - resumed,
                note="recovery: SIGCONT to lag 0 and /readyz 200, load still running",
                extra={"paused_s": round(resumed - paused, 1), "lag_at_resume": lag},
            )
        )
