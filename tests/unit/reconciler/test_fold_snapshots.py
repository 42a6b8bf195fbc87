"""The snapshot numbering (callstream.snapshots) against the projector's own rules.

Any mix of real callbacks, their Event Streams copies (as ingest's ``/twilio/events``
route writes them), reconciler snapshots and duplicates of all three, in any order and
cut into any batches, goes through the projector's interpretation and fold and must give
the row the set of events calls for:

* a terminal event (a callback or a snapshot) settles the call with the call's outcome;
* otherwise a real callback decides: the highest SequenceNumber among them, so a snapshot
  never moves a call that has a callback backwards;
* otherwise the snapshot of the latest stage (they only move forward);
* every column except the ones taken from the winning terminal event is the same whatever
  the order (those come from the first terminal in the log, as for two terminal callbacks).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from callstream.envelope import encode
from emulator.event_sink import cloud_event
from ingest.event_streams import parse_batch
from projector.events import Event
from projector.fold import TERMINAL_FIELDS, distinct, fold, merge
from projector.interpret import interpret
from reconciler.snapshot import RestCall, snapshot_params

SID = "CA" + "5" * 32
ACC = "AC" + "0123456789abcdef" * 2
# a call's life as Twilio tells it: the callbacks' statuses in order, then its outcome
STAGES = ("initiated", "ringing", "in-progress")
REST_STAGES = ("queued", "ringing", "in-progress")
OUTCOMES = ("completed", "busy", "failed", "no-answer", "canceled")


def stamp(second: int) -> str:
    return f"Wed, 25 Nov 2026 12:{second // 60:02d}:{second % 60:02d} +0000"


def record(params: list[tuple[str, str]]) -> bytes:
    return encode("2026-11-25T12:10:00Z", "POST", "https://x/twilio/status", params, None)


def callback(seq: int, status: str) -> bytes:
    return record(callback_params(seq, status))


def es_copy(seq: int, status: str) -> bytes:
    """The twilio.call-status record ingest writes for the Event Streams copy of a callback
    (the CloudEvent's id as the idempotency token, its parameters as the callback's)."""
    event = cloud_event(
        f"EZ{seq}",
        dict(callback_params(seq, status)),
        callback_url="https://x/s",
        method="POST",
        when=0,
    )
    (got,) = parse_batch(json.dumps([event]).encode(), ACC.__eq__)
    assert got.callback is not None
    url = "https://x/twilio/events?bodySHA256=x"
    return encode("2026-11-25T12:10:01Z", got.method, url, got.callback, got.id)


def callback_params(seq: int, status: str) -> list[tuple[str, str]]:
    params = [
        ("AccountSid", ACC),
        ("CallSid", SID),
        ("CallStatus", status),
        ("SequenceNumber", str(seq)),
        ("Timestamp", stamp(seq * 10)),
        ("CallbackSource", "call-progress-events"),
        ("Direction", "outbound-api"),
    ]
    if status == "completed":
        params += [("CallDuration", "42"), ("Duration", "1"), ("SipResponseCode", "200")]
    return params


def snapshot(status: str, at: int) -> bytes:
    terminal = status in OUTCOMES
    call = RestCall(
        sid=SID,
        account_sid=ACC,
        status=status,
        direction="outbound-api",
        date_updated=stamp(at),
        end_time=stamp(at) if terminal else None,
        duration="42" if status == "completed" else ("0" if terminal else None),
    )
    return record(snapshot_params(call))


@st.composite
def logs(draw: Any) -> tuple[list[bytes], dict[str, Any]]:
    """A log of one call's records and what the set of them calls for."""
    reached = draw(st.integers(0, len(STAGES)))  # stages the call went through
    ended = draw(st.booleans())
    outcome = draw(st.sampled_from(OUTCOMES))
    lived = list(STAGES[:reached]) + ([outcome] if ended else [])
    # each event of the call: its callback delivered or lost, its Event Streams copy
    # delivered or not (the two routes lose independently)
    kept = draw(st.lists(st.booleans(), min_size=len(lived), max_size=len(lived)))
    copied = draw(st.lists(st.booleans(), min_size=len(lived), max_size=len(lived)))
    callbacks = [
        (seq, status)
        for seq, (status, k, c) in enumerate(zip(lived, kept, copied, strict=True))
        if k or c
    ]
    # snapshots taken at moments of the call's life: REST never says "initiated"
    rest_life = list(REST_STAGES[: max(reached, 1)]) + ([outcome] if ended else [])
    snaps = draw(st.lists(st.integers(0, len(rest_life) - 1), max_size=4))
    records = [callback(seq, status) for seq, status in callbacks if kept[seq]]
    records += [es_copy(seq, status) for seq, status in callbacks if copied[seq]]
    records += [snapshot(rest_life[i], 100 + i) for i in snaps]
    records += draw(st.lists(st.sampled_from(records), max_size=3)) if records else []
    if not records:
        records = [snapshot(rest_life[0], 100)]
        snaps = [0]
    order = draw(st.permutations(records))
    said = {status for _, status in callbacks} | {rest_life[i] for i in snaps}
    if ended and outcome in said:
        want = outcome  # a terminal event, from either source
    elif callbacks:
        want = callbacks[-1][1]  # the highest SequenceNumber among the callbacks
    else:
        want = max((rest_life[i] for i in snaps), key=REST_STAGES.index)  # the latest stage
    return list(order), {"status": want}


def events_of(records: list[bytes]) -> list[Event]:
    out = []
    for offset, value in enumerate(records):
        e = interpret(value, 0, offset)
        assert isinstance(e, Event), e
        out.append(e)
    return out


def merged(evs: list[Event], cut: int) -> dict[str, Any]:
    """The row as the live projector keeps it: two batches merged (folded when asked)."""
    first, second = evs[:cut], evs[cut:]
    row = merge(None, {}, first) if first else None
    known = {seq: (e.status, e.position) for seq, e in distinct(first).items()}
    row = merge(row, known, second)
    return row if row is not None else fold(evs)


@settings(max_examples=400, deadline=None)
@given(logs(), st.randoms(use_true_random=False), st.integers(0, 20))
def test_any_mix_folds_to_the_set_rule(log: Any, rnd: Any, cut: int) -> None:
    records, want = log
    evs = events_of(records)
    row = fold(evs)
    assert row["status"] == want["status"]
    assert merged(evs, min(cut, len(evs))) == row
    # another order of the same records: the same row, but for the fields taken from
    # the first terminal event in the log
    again = list(records)
    rnd.shuffle(again)
    other = fold(events_of(again))
    skip = {*TERMINAL_FIELDS, "ended_at"}
    assert {k: v for k, v in other.items() if k not in skip} == {
        k: v for k, v in row.items() if k not in skip
    }


def test_a_snapshot_never_moves_a_callback_backwards() -> None:
    # the callback says in-progress (seq 2); a late snapshot saying ringing counts for nothing
    row = fold(events_of([callback(2, "in-progress"), snapshot("ringing", 5)]))
    assert row["status"] == "in-progress"


def test_snapshots_alone_move_forward_whatever_the_order() -> None:
    for i, early in enumerate(REST_STAGES):
        for late in REST_STAGES[i + 1 :]:
            for records in (
                [snapshot(early, 1), snapshot(late, 2)],
                [snapshot(late, 2), snapshot(early, 1)],
            ):
                assert fold(events_of(records))["status"] == late, (early, late)


def test_a_terminal_snapshot_settles_a_call_stuck_in_progress() -> None:
    row = fold(
        events_of([callback(0, "initiated"), callback(2, "in-progress"), snapshot("completed", 90)])
    )
    assert row["status"] == "completed"
    assert row["call_duration_s"] == 42 and row["billed_minutes"] == 1
    assert row["ended_at"] == "2026-11-25T12:01:30Z"


def test_repeated_snapshots_count_once() -> None:
    row = fold(events_of([snapshot("ringing", 1), snapshot("ringing", 7)]))
    assert row["events_count"] == 1


def test_negative_numbers_stay_refused_without_the_mark() -> None:
    forged = record([("CallSid", SID), ("CallStatus", "completed"), ("SequenceNumber", "-1")])
    assert not isinstance(interpret(forged, 0, 0), Event)
    outside = record(
        [
            ("CallSid", SID),
            ("CallStatus", "completed"),
            ("SequenceNumber", "-6"),
            ("CallbackSource", "callstream-reconciler"),
        ]
    )
    assert not isinstance(interpret(outside, 0, 0), Event)
