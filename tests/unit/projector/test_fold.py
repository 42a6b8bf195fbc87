"""The fold of a call's events into its row: examples and properties."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projector import fold
from projector.events import Event
from tests.unit.projector.callbacks import ACC, SID, callback, ev

# -- the status rule on examples ---------------------------------------------------------


def test_out_of_order_lifecycle() -> None:
    evs = [
        ev(
            callback(
                3,
                "completed",
                "Tue, 01 Nov 2016 02:00:10 +0000",
                CallDuration="49",
                Duration="1",
                SipResponseCode="200",
            ),
            offset=0,
        ),
        ev(callback(1, "ringing", "Tue, 01 Nov 2016 01:59:13 +0000"), offset=1),
        ev(callback(2, "in-progress", "Tue, 01 Nov 2016 01:59:20 +0000"), offset=2),
        ev(callback(0, "initiated", "Tue, 01 Nov 2016 01:59:12 +0000"), offset=3),
    ]
    row = fold.fold(evs)
    assert row["status"] == "completed"
    assert row["last_sequence_number"] == 3 and row["events_count"] == 4
    assert row["initiated_at"] == "2016-11-01T01:59:12Z"
    assert row["ringing_at"] == "2016-11-01T01:59:13Z"
    assert row["answered_at"] == "2016-11-01T01:59:20Z"
    assert row["ended_at"] == "2016-11-01T02:00:10Z"
    assert (row["call_duration_s"], row["billed_minutes"], row["sip_response_code"]) == (49, 1, 200)


def test_highest_sequence_number_wins_before_a_terminal() -> None:
    evs = [ev(callback(2, "in-progress"), offset=0), ev(callback(1, "ringing"), offset=1)]
    assert fold.fold(evs)["status"] == "in-progress"


def test_terminal_wins_over_a_later_sequence_number() -> None:
    evs = [ev(callback(1, "no-answer"), offset=0), ev(callback(5, "ringing"), offset=1)]
    row = fold.fold(evs)
    assert row["status"] == "no-answer" and row["last_sequence_number"] == 5


def test_first_terminal_in_the_log_wins() -> None:
    evs = [ev(callback(4, "completed"), offset=9), ev(callback(3, "busy"), offset=4)]
    assert fold.fold(evs)["status"] == "busy"


def test_duplicates_count_once_and_the_first_copy_is_kept() -> None:
    a = ev(callback(1, "ringing"), offset=5)
    b = ev(callback(1, "ringing"), offset=9)
    assert fold.fold([a, b])["events_count"] == 1
    assert fold.distinct([b, a])[1].offset == 5


def test_parent_and_direction() -> None:
    parent = "CA" + "2" * 32
    row = fold.fold([ev(callback(0, "completed", ParentCallSid=parent, Direction="outbound-dial"))])
    assert row["parent_call_sid"] == parent and row["direction"] == "outbound-dial"


# -- properties --------------------------------------------------------------------------

STATUSES = [*fold.KNOWN_STATUSES, "some-new-status"]
STAMPS = [None, "2016-11-01T01:59:13Z", "2016-11-01T01:59:14Z", "2016-11-01T02:00:00Z"]


@st.composite
def call_events(draw: st.DrawFn) -> list[Event]:
    """Copies of a call's events: duplicates, conflicting copies, any fields, unique positions."""
    # negative numbers too: REST snapshots carry small negative ones, nothing special to the fold
    seqs = draw(st.lists(st.integers(-3, 12), min_size=1, max_size=8, unique=True))
    bases: list[dict[str, Any]] = []
    for seq in seqs:
        for _ in range(draw(st.integers(1, 2))):  # 2: a conflicting copy of the same number
            bases.append(
                {
                    "call_sid": SID,
                    "sequence_number": seq,
                    "status": draw(st.sampled_from(STATUSES)),
                    "timestamp": draw(st.sampled_from(STAMPS)),
                    "received_at": "2026-11-25T12:00:00Z",
                    "params": draw(st.sampled_from(["[]", '[["X","1"]]'])),
                    "account_sid": draw(st.sampled_from([None, ACC, "AC" + "f" * 32])),
                    "parent_call_sid": draw(st.sampled_from([None, "CA" + "9" * 32])),
                    "direction": draw(st.sampled_from([None, "inbound", "outbound-dial"])),
                    "from_number": draw(st.sampled_from([None, "+14155550100"])),
                    "to_number": draw(st.sampled_from([None, "+14155550199", "+3312345678"])),
                    "call_duration_s": draw(st.sampled_from([None, 0, 49])),
                    "billed_minutes": draw(st.sampled_from([None, 1])),
                    "sip_response_code": draw(st.sampled_from([None, 200, 487])),
                    "answered_by": draw(st.sampled_from([None, "human", "machine_start"])),
                }
            )
    copies = [b for b in bases for _ in range(draw(st.integers(1, 3)))]
    positions = draw(
        st.lists(
            st.tuples(st.integers(0, 1), st.integers(0, 200)),
            min_size=len(copies),
            max_size=len(copies),
            unique=True,
        )
    )
    return [Event(partition=p, offset=o, **b) for b, (p, o) in zip(copies, positions, strict=True)]


def incremental(chunks: list[list[Event]]) -> dict[str, Any]:
    """Apply chunks as the store does: merge, or fold from scratch when merge declines."""
    row: dict[str, Any] | None = None
    applied: list[Event] = []
    for chunk in chunks:
        if not chunk:
            continue
        stored = {s: (e.status, e.position) for s, e in fold.distinct(applied).items()}
        merged = fold.merge(row, stored, chunk)
        applied += chunk
        row = merged if merged is not None else fold.fold(applied)
    assert row is not None
    return row


@settings(max_examples=300, deadline=None)
@given(call_events(), st.randoms(use_true_random=False))
def test_any_order_gives_the_same_state(events: list[Event], rnd: Any) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert fold.fold(shuffled) == fold.fold(events)


@settings(max_examples=300, deadline=None)
@given(call_events(), st.data())
def test_a_later_duplicate_never_changes_state(events: list[Event], data: st.DataObject) -> None:
    e = data.draw(st.sampled_from(events))
    last = max(x.offset for x in events)
    dup = Event(**{**{f: getattr(e, f) for f in Event.__slots__}, "offset": last + 1})
    assert fold.fold([*events, dup]) == fold.fold(events)
    assert fold.fold([*events, e]) == fold.fold(events)


@settings(max_examples=400, deadline=None)
@given(call_events(), st.randoms(use_true_random=False), st.data())
def test_incremental_equals_batch(events: list[Event], rnd: Any, data: st.DataObject) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(shuffled)), max_size=4)))
    chunks = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    assert incremental(chunks) == fold.fold(events)


@settings(max_examples=200, deadline=None)
@given(call_events(), st.data())
def test_merge_in_log_order_never_needs_a_full_fold(
    events: list[Event], data: st.DataObject
) -> None:
    in_log = sorted(events, key=lambda e: e.position)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(in_log)), max_size=4)))
    row: dict[str, Any] | None = None
    applied: list[Event] = []
    for a, b in zip([0, *cuts], [*cuts, len(in_log)], strict=True):
        if a == b:
            continue
        stored = {s: (e.status, e.position) for s, e in fold.distinct(applied).items()}
        row = fold.merge(row, stored, in_log[a:b])
        assert row is not None or not applied
        applied += in_log[a:b]
    assert row == fold.fold(events)


def test_the_merge_written_out_covers_the_column_tables() -> None:
    """``_merge`` spells out IDENTITY and TERMINAL_FIELDS column by column (it is the hot
    path); a column added to either table must be added there too, or this fails."""
    import inspect

    body = inspect.getsource(fold._merge)
    for col, _param in fold.IDENTITY:
        assert f'out["{col}"] = v' in body, col
    for col in fold.TERMINAL_FIELDS:
        assert f'out["{col}"] = e.{col}' in body, col
