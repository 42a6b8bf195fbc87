"""The status rule of docs/projector.md ("How a call's row is decided"), pinned by name.

Each test states the rule it pins and checks it both ways the projector applies it: the
batch :func:`fold` (used by ``callstream rebuild``) and the incremental :func:`merge` (used
as records arrive), in every arrival order and every way of cutting the arrivals into
batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from projector.events import Event
from projector.fold import CALL_COLUMNS, distinct, fold, merge

SID = "CA" + "7" * 32
TERMINALS = ("completed", "busy", "failed", "no-answer", "canceled")


def event(seq: int, status: str, offset: int, partition: int = 0, **kw: Any) -> Event:
    return Event(
        call_sid=kw.pop("call_sid", SID),
        sequence_number=seq,
        status=status,
        timestamp=kw.pop("timestamp", f"2026-11-25T12:00:{seq:02d}Z"),
        received_at="2026-11-25T12:01:00.000000Z",
        partition=partition,
        offset=offset,
        params=f'[["SequenceNumber","{seq}"]]',
        **kw,
    )


def terminal(seq: int, status: str, offset: int, partition: int = 0) -> Event:
    """A terminal callback whose every end field says which one it is."""
    return event(
        seq,
        status,
        offset,
        partition,
        call_duration_s=seq * 10,
        billed_minutes=seq,
        sip_response_code=600 + seq,
        answered_by=f"by-{status}",
    )


def cuttings(n: int) -> Iterator[list[int]]:
    """Every way to cut ``n`` arrivals into consecutive non-empty batches (as batch sizes)."""
    for mask in range(2 ** (n - 1)):
        sizes, size = [], 1
        for i in range(n - 1):
            if mask >> i & 1:
                sizes.append(size)
                size = 1
            else:
                size += 1
        yield [*sizes, size]


def merged(arrivals: Sequence[Event], sizes: list[int]) -> dict[str, Any]:
    """The row as the projector keeps it: each batch merged into the row of the events
    stored so far (a full fold only when merge asks for one)."""
    row: dict[str, Any] | None = None
    stored: list[Event] = []
    start = 0
    for size in sizes:
        batch = list(arrivals[start : start + size])
        start += size
        known = {seq: (e.status, e.position) for seq, e in distinct(stored).items()}
        row = merge(row, known, batch)
        stored += batch
        if row is None:
            row = fold(stored)
    assert row is not None
    return row


def every_way(events: Sequence[Event]) -> Iterator[dict[str, Any]]:
    """The row after every arrival order and every batching of ``events``, then the batch
    fold of each order."""
    for order in itertools.permutations(events):
        for sizes in cuttings(len(order)):
            yield merged(order, sizes)
        yield fold(order)


def assert_ended_by(row: dict[str, Any], win: Event) -> None:
    assert set(row) == set(CALL_COLUMNS)
    assert row["call_sid"] == win.call_sid
    assert row["status"] == win.status
    assert row["ended_at"] == win.timestamp
    assert (
        row["call_duration_s"],
        row["billed_minutes"],
        row["sip_response_code"],
        row["answered_by"],
    ) == (win.call_duration_s, win.billed_minutes, win.sip_response_code, win.answered_by)


# -- first terminal wins ----------------------------------------------------------------


@pytest.mark.parametrize("statuses", list(itertools.permutations(("busy", "completed", "failed"))))
@pytest.mark.parametrize("offsets", list(itertools.permutations((1, 3, 5))))
def test_first_terminal_wins_with_three_terminals_in_every_order(
    statuses: tuple[str, str, str], offsets: tuple[int, int, int]
) -> None:
    """ "Should a call ever have two different terminal callbacks, the one first in the log
    wins", and every end column comes from it: for each placement of three terminals in
    the log, each arrival order and each batching, incremental and batch agree on it."""
    ringing = event(1, "ringing", 0)
    ends = [
        terminal(seq, st, off) for seq, st, off in zip((2, 3, 4), statuses, offsets, strict=True)
    ]
    win = min(ends, key=lambda e: e.offset)
    for row in every_way([ringing, *ends]):
        assert_ended_by(row, win)
        assert row["events_count"] == 4
        assert row["last_sequence_number"] == 4


def test_first_terminal_wins_busy_stored_completed_stored_failed_in_between() -> None:
    """The case the issue names: busy at offset 1 and completed at offset 5 are stored; a
    failed at offset 3 arrives later. The first in the log is busy."""
    busy, completed = terminal(2, "busy", 1), terminal(3, "completed", 5)
    failed = terminal(4, "failed", 3)
    row = merged([busy, completed, failed], [1, 1, 1])
    assert_ended_by(row, busy)
    row = merged([busy, completed, failed], [2, 1])
    assert_ended_by(row, busy)
    assert fold([busy, completed, failed])["status"] == "busy"


def test_first_terminal_wins_lowest_partition_first_then_offset() -> None:
    """ "First in the log" is the lowest partition, then the lowest offset."""
    early = terminal(5, "no-answer", offset=100, partition=0)
    late = terminal(6, "canceled", offset=2, partition=1)
    for row in every_way([early, late]):
        assert_ended_by(row, early)


@pytest.mark.parametrize("status", TERMINALS)
def test_first_terminal_wins_over_any_later_sequence_number(status: str) -> None:
    """ "Once a terminal callback is known the status is terminal and stays so", even when
    a non-terminal callback with a higher SequenceNumber is known too."""
    end = terminal(2, status, 4)
    events = [event(0, "initiated", 1), end, event(5, "in-progress", 0), event(7, "ringing", 9)]
    for row in every_way(events):
        assert_ended_by(row, end)
        assert row["last_sequence_number"] == 7


# -- without a terminal: the highest SequenceNumber --------------------------------------


def test_without_terminal_the_highest_sequence_number_decides() -> None:
    events = [event(0, "initiated", 5), event(2, "in-progress", 1), event(1, "ringing", 9)]
    for row in every_way(events):
        assert row["status"] == "in-progress"
        assert row["last_sequence_number"] == 2
        assert row["ended_at"] is None and row["call_duration_s"] is None


# -- first copy wins ---------------------------------------------------------------------


def test_first_copy_wins() -> None:
    """ "A callback is identified by its CallSid and SequenceNumber. Copies of one count
    once; the call_events row keeps the copy that comes first in the log." Two copies of
    each SequenceNumber that disagree on everything else: the first in the log decides."""
    first_end = terminal(3, "completed", offset=2)
    later_end = replace(terminal(3, "busy", offset=8), answered_by="machine_start")
    first_ring = event(1, "ringing", offset=6, timestamp="2026-11-25T12:00:30Z")
    later_ring = event(1, "ringing", offset=7, timestamp="2026-11-25T12:00:05Z")
    events = [later_end, first_ring, first_end, later_ring]
    assert distinct(events) == {3: first_end, 1: first_ring}
    for row in every_way(events):
        assert_ended_by(row, first_end)
        assert row["ringing_at"] == "2026-11-25T12:00:30Z"
        assert row["events_count"] == 2


def test_first_copy_wins_a_later_copy_changes_nothing_incrementally() -> None:
    """A copy that comes after the stored one is a duplicate: merge keeps the row as is. A
    copy that comes before it replaces the stored one, which merge cannot undo: it asks for
    a full fold (None)."""
    stored = [event(0, "initiated", 3), terminal(4, "completed", 4)]
    row = fold(stored)
    known = {e.sequence_number: (e.status, e.position) for e in stored}
    assert merge(row, known, [replace(stored[1], status="failed", offset=9)]) == row
    assert merge(row, known, [replace(stored[0], offset=9)]) == row
    assert merge(row, known, [replace(stored[1], status="failed", offset=1)]) is None
    assert merge(row, known, [replace(stored[0], offset=0)]) is None
    assert merge(row, known, [replace(stored[0], offset=0, partition=1)]) == row
    # the stored copy itself, delivered again (a restart): nothing to do, no full fold
    assert merge(row, known, stored) == row


def test_first_copy_wins_within_one_batch() -> None:
    a = terminal(2, "busy", offset=7)
    b = terminal(2, "failed", offset=4)
    assert distinct([a, b]) == {2: b}
    assert distinct([b, a]) == {2: b}
    for row in every_way([a, b]):
        assert_ended_by(row, b)
        assert row["events_count"] == 1


# -- the other columns -------------------------------------------------------------------


def test_stage_times_are_the_earliest_of_their_callbacks() -> None:
    events = [
        event(0, "initiated", 0, timestamp="2026-11-25T12:00:09Z"),
        event(1, "initiated", 1, timestamp="2026-11-25T12:00:02Z"),
        event(2, "ringing", 2, timestamp="2026-11-25T12:00:05Z"),
        event(3, "ringing", 3, timestamp="2026-11-25T12:00:04Z"),
        event(4, "in-progress", 4, timestamp="2026-11-25T12:00:08Z"),
        event(5, "in-progress", 5, timestamp="2026-11-25T12:00:07Z"),
        event(6, "in-progress", 6, timestamp=None),
    ]
    for row in every_way(events[:2]):
        assert row["initiated_at"] == "2026-11-25T12:00:02Z"
    row = fold(events)
    assert merged(events, [1] * 7) == merged(events[::-1], [3, 4]) == row
    assert (row["initiated_at"], row["ringing_at"], row["answered_at"]) == (
        "2026-11-25T12:00:02Z",
        "2026-11-25T12:00:04Z",
        "2026-11-25T12:00:07Z",
    )


def test_identity_columns_keep_the_greatest_value() -> None:
    """ "Should they ever differ, the greatest value is kept"; an empty value is no value."""
    a = event(0, "initiated", 0, account_sid="AC2", from_number="+1", direction="inbound")
    b = event(1, "ringing", 1, account_sid="AC1", from_number="+2", to_number="+9")
    c = event(2, "ringing", 2, parent_call_sid="CA9", direction="", to_number="+3")
    for row in every_way([a, b, c]):
        assert (
            row["account_sid"],
            row["from_number"],
            row["to_number"],
            row["direction"],
            row["parent_call_sid"],
        ) == ("AC2", "+2", "+9", "inbound", "CA9")


def test_fold_is_of_one_call() -> None:
    with pytest.raises(ValueError, match="several calls"):
        fold([event(0, "initiated", 0), event(1, "ringing", 1, call_sid="CA" + "8" * 32)])
    with pytest.raises(ValueError, match=r"^fold\(\) needs at least one event$"):
        fold([])
