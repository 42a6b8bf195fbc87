"""Scenario 2: ingest killed with kill -9 under load, then restarted.

Every callback answered 204 before the kill was durable (in Kafka or in the spool), so it
is in the topic and in the projected state afterwards; callbacks sent while ingest was down
got no answer and count as not acknowledged (Twilio would have logged them as failed).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.support import (
    DirectLoad,
    EmulatorLoad,
    Figures,
    Ledger,
    TopicWatcher,
    emulator_tally,
    make_pipeline,
    record,
    settings_of,
    verify,
    wait_emulator_settled,
)
from tests.helpers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_ingest_killed_under_load_then_restarted(tmp_path: Path) -> None:
    ledger = Ledger()
    with make_pipeline(tmp_path) as p:
        p.start("broker", "emulator", "projector", "ingest")
        watcher = TopicWatcher(settings_of(p))
        with DirectLoad(p, ledger, rate=150) as load, EmulatorLoad(p, rate=4) as emu:
            wait_until(lambda: ledger.count_acked() >= 400, timeout=30, what="load under way")
            p["ingest"].kill9()
            killed = time.time()
            n = len(ledger.snapshot())
            wait_until(lambda: len(ledger.snapshot()) >= n + 30, what="posts while ingest is down")
            p["ingest"].start()
            after = ledger.count_acked()
            wait_until(
                lambda: ledger.count_acked() >= after + 300,
                timeout=30,
                what="load after the restart",
            )
            load.stop()
            emu.stop()
        wait_emulator_settled(p, emu.sids)
        tally = emulator_tally(p, emu.sids)
        posts = ledger.snapshot()
        first_ok = min(x.done for x in posts if x.code == 204 and x.sent > killed)
        acked = ledger.acked() | tally.acked_keys
        lost, dup = verify(
            p,
            tmp_path,
            acked=acked,
            watcher=watcher,
            emulator_sids=emu.sids,
            terminal_acked=tally.terminal_acked,
        )
        refused = sum(1 for x in posts if x.code is None)
        record(
            Figures(
                "ingest kill -9",
                sent=len(posts) + tally.attempted,
                acked=ledger.count_acked() + tally.acked,
                lost=lost,
                duplicated=dup,
                recovery_s=first_ok - killed,
                note="recovery: kill to the first 204 after the restart",
                extra={"unanswered_while_down": refused, "emulator_calls": len(emu.sids)},
            )
        )
        watcher.close()
