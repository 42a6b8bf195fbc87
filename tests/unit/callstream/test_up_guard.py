"""callstream/up_guard.py: when ``callstream up`` says the embedded log has grown."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from callstream.archive_store import ArchiveStore
from callstream.up_guard import CHECK_EVERY_S, FIRST, STEP, LogGrowth, archived_total, crossed


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_crossed_is_the_highest_threshold_between(before: int, now: int) -> None:
    got = crossed(before, now)
    thresholds = range(FIRST, 2 * 10**6, STEP)
    passed = [t for t in thresholds if before < t <= now]
    assert got == (max(passed) if passed else None)


def test_log_growth_speaks_once_per_threshold_from_what_was_there_at_start() -> None:
    said: list[str] = []
    now = [0.0]
    total = [30_000]  # restored at start: not counted
    growth = LogGrowth(Path("a.db"), said.append, clock=lambda: now[0], read=lambda p: total[0])
    for written, expect in (
        (40_000, 0),
        (FIRST, 1),
        (FIRST + 10, 1),
        (FIRST + STEP + 1, 2),
        (FIRST + 3 * STEP, 3),
    ):
        total[0] = 30_000 + written
        growth.check()  # not yet due: nothing read
        now[0] += CHECK_EVERY_S
        growth.check()
        assert len(said) == expect, (written, said)
    assert said[0].startswith("log        50,000 records written since start")
    assert "restart 'callstream up'" in said[0]
    assert f"{FIRST + 3 * STEP:,}" in said[-1]


def test_an_unreadable_archive_is_tried_again_later() -> None:
    said: list[str] = []
    now = [0.0]
    answers = iter([0, None, FIRST])
    growth = LogGrowth(
        Path("a.db"), said.append, clock=lambda: now[0], read=lambda p: next(answers)
    )
    now[0] += CHECK_EVERY_S
    growth.check()
    now[0] += CHECK_EVERY_S
    growth.check()
    assert len(said) == 1


def test_archived_total_sums_the_committed_positions(tmp_path: Path) -> None:
    path = tmp_path / "callstream-archive.db"
    assert archived_total(path) is None  # not there yet
    store = ArchiveStore(path)
    store.append([], {("twilio.call-status", 0): 120, ("twilio.call-status", 1): 30})
    store.close()
    assert archived_total(path) == 150
    (tmp_path / "other.db").write_bytes(b"not sqlite at all" * 100)
    assert archived_total(tmp_path / "other.db") is None
