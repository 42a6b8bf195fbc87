"""The pure core: interpretation of records and the fold of a call's events."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from callstream.envelope import encode
from projector import fold
from projector.fold import Event, Rejected

SID = "CA" + "1" * 32
ACC = "AC" + "0123456789abcdef" * 2


def record(
    params: list[tuple[str, str]], received_at: str = "2026-11-25T12:00:00.000000Z"
) -> bytes:
    return encode(
        received_at,
        "POST",
        "https://hooks.example.com/twilio/status",
        [list(p) for p in params],
        None,
    )


def callback(
    seq: int | str,
    status: str,
    ts: str = "Tue, 01 Nov 2016 01:59:13 +0000",
    sid: str = SID,
    **extra: str,
) -> bytes:
    params = [
        ("AccountSid", ACC),
        ("CallSid", sid),
        ("CallStatus", status),
        ("SequenceNumber", str(seq)),
        ("Timestamp", ts),
        ("CallbackSource", "call-progress-events"),
    ]
    params += list(extra.items())
    return record(params)


def ev(value: bytes, partition: int = 0, offset: int = 0) -> Event:
    e = fold.interpret(value, partition, offset)
    assert isinstance(e, Event), e
    return e


# -- interpretation --------------------------------------------------------------------


def test_rfc2822_timestamps_become_iso_utc() -> None:
    assert fold.rfc2822_to_iso("Tue, 01 Nov 2016 01:59:13 +0000") == "2016-11-01T01:59:13Z"
    assert fold.rfc2822_to_iso("01 Nov 2016 01:59:13 GMT") == "2016-11-01T01:59:13Z"
    assert fold.rfc2822_to_iso("Tue, 01 Nov 2016 03:59:13 +0200") == "2016-11-01T01:59:13Z"
    assert fold.rfc2822_to_iso("Mon, 31 Dec 2018 23:30:00 -0100") == "2019-01-01T00:30:00Z"
    assert fold.rfc2822_to_iso("yesterday") is None
    assert fold.rfc2822_to_iso("Tue, 45 Nov 2016 01:59:13 +0000") is None


def test_interpret_a_completed_callback() -> None:
    e = ev(
        callback(
            3,
            "completed",
            CallDuration="49",
            Duration="1",
            SipResponseCode="200",
            AnsweredBy="human",
            Direction="outbound-api",
            From="+14155550100",
            To="+14155550199",
            FutureField="x",
        ),
        partition=2,
        offset=7,
    )
    assert (e.call_sid, e.sequence_number, e.status) == (SID, 3, "completed")
    assert e.timestamp == "2016-11-01T01:59:13Z"
    assert (e.call_duration_s, e.billed_minutes, e.sip_response_code, e.answered_by) == (
        49,
        1,
        200,
        "human",
    )
    assert (e.direction, e.from_number, e.to_number) == (
        "outbound-api",
        "+14155550100",
        "+14155550199",
    )
    assert e.position == (2, 7)
    assert ["FutureField", "x"] in json.loads(e.params)


def test_terminal_only_fields_are_ignored_on_other_events() -> None:
    e = ev(callback(1, "ringing", CallDuration="5", AnsweredBy="human"))
    assert e.call_duration_s is None and e.answered_by is None


def test_answered_literal_is_in_progress() -> None:
    assert ev(callback(2, "answered")).status == "in-progress"


def test_missing_optional_fields_are_fine() -> None:
    e = ev(record([("CallSid", SID), ("CallStatus", "completed"), ("SequenceNumber", "0")]))
    assert e.timestamp is None and e.account_sid is None and e.call_duration_s is None


def test_uninterpretable_records_are_rejected_with_a_reason() -> None:
    cases: list[tuple[Any, str]] = [
        (b"not json", "malformed-envelope"),
        (None, "malformed-envelope"),
        (b'{"v": 9}', "malformed-envelope"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed-envelope"),
        (record([("CallStatus", "ringing"), ("SequenceNumber", "1")]), "no-call-sid"),
        (record([("CallSid", SID), ("CallStatus", "ringing")]), "no-sequence-number"),
        (callback("one", "ringing"), "bad-sequence-number"),
        (callback("-1", "ringing"), "bad-sequence-number"),
        (record([("CallSid", SID), ("SequenceNumber", "1")]), "no-call-status"),
    ]
    for value, reason in cases:
        r = fold.interpret(value, 1, 42)
        assert isinstance(r, Rejected), value
        assert r.reason.startswith(reason), (r.reason, reason)
        assert (r.partition, r.offset) == (1, 42)


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
    seqs = draw(st.lists(st.integers(0, 12), min_size=1, max_size=8, unique=True))
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


def test_stored_event_reads_back_equal() -> None:
    e = ev(callback(3, "completed", CallDuration="49", Direction="inbound"), 1, 5)
    back = fold.event_from_stored(dict(zip(fold.EVENT_COLUMNS, e.row(), strict=True)))
    assert back == e


# -- the fast way through records of callstream's own layout ------------------------------

_text = st.text(max_size=30)
_names = st.sampled_from(["CallSid", "SequenceNumber", "CallStatus", "Timestamp", "To", "X"])
_params = st.lists(st.tuples(st.one_of(_names, _text), _text).map(list), max_size=8)


@settings(max_examples=400, deadline=None)
@given(_text, _text, _text, _params, st.one_of(st.none(), _text))
def test_own_layout_gives_what_the_general_way_gives(
    received_at: str, method: str, url: str, params: list[list[str]], tok: str | None
) -> None:
    """A record as ingest writes it takes the fast way, and yields the same as the general
    way, byte for byte (its params text is the record's own)."""
    value = encode(received_at, method, url, params, tok)
    fast = fold._envelope(value)
    assert fold._own_envelope(value.decode()) is not None
    assert fast == fold._any_envelope(value)
    assert fast == fold._any_envelope(value.decode())  # str records (no fast way) agree


def _variants(value: bytes, data: st.DataObject) -> bytes:
    """The record re-encoded in another layout, or with a few bytes changed."""
    obj = json.loads(value)
    how = data.draw(st.sampled_from(["keys", "spaces", "ascii", "extra", "dup", "bytes"]))
    if how == "keys":
        keys = data.draw(st.permutations(list(obj)))
        return json.dumps({k: obj[k] for k in keys}, separators=(",", ":")).encode()
    if how == "spaces":
        return json.dumps(obj, ensure_ascii=False).encode()
    if how == "ascii":
        return json.dumps(obj, separators=(",", ":")).encode()
    if how == "extra":
        return value[:-1] + b',"more":{"params":[]}}'
    if how == "dup":  # a second params key: JSON keeps the last one
        tail = b',"idempotency_token"'
        return value.replace(tail, b',"params":[]' + tail)
    out = bytearray(value)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(out) - 1))
        out[i : i + 1] = data.draw(st.binary(max_size=2))
    return bytes(out)


@settings(max_examples=600, deadline=None)
@given(_text, _text, _params, st.one_of(st.none(), _text), st.data())
def test_other_layouts_and_damaged_records_agree_with_the_general_way(
    received_at: str, url: str, params: list[list[str]], tok: str | None, data: st.DataObject
) -> None:
    """Whatever the bytes, the fast way either declines or reads the same thing: the same
    verdict, the same fields and the same parameters (its text may keep the record's own
    spelling, e.g. spaces, which is still the same JSON)."""
    value = _variants(encode(received_at, "POST", url, params, tok), data)
    got, want = fold._envelope(value), fold._any_envelope(value)
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
        return
    assert got[:3] == want[:3]
    assert json.loads(got[3]) == json.loads(want[3])
