"""Interpretation: a record of the callback topic into an event, or a rejection."""

from __future__ import annotations

import json
from typing import Any

from projector import interpret
from projector.events import EVENT_COLUMNS, Rejected
from tests.unit.projector.callbacks import SID, callback, ev, record

# -- records --------------------------------------------------------------------


def test_rfc2822_timestamps_become_iso_utc() -> None:
    assert interpret.rfc2822_to_iso("Tue, 01 Nov 2016 01:59:13 +0000") == "2016-11-01T01:59:13Z"
    assert interpret.rfc2822_to_iso("01 Nov 2016 01:59:13 GMT") == "2016-11-01T01:59:13Z"
    assert interpret.rfc2822_to_iso("Tue, 01 Nov 2016 03:59:13 +0200") == "2016-11-01T01:59:13Z"
    assert interpret.rfc2822_to_iso("Mon, 31 Dec 2018 23:30:00 -0100") == "2019-01-01T00:30:00Z"
    assert interpret.rfc2822_to_iso("yesterday") is None
    assert interpret.rfc2822_to_iso("Tue, 45 Nov 2016 01:59:13 +0000") is None


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
        r = interpret.interpret(value, 1, 42)
        assert isinstance(r, Rejected), value
        assert r.reason.startswith(reason), (r.reason, reason)
        assert (r.partition, r.offset) == (1, 42)


def test_stored_event_reads_back_equal() -> None:
    e = ev(callback(3, "completed", CallDuration="49", Direction="inbound"), 1, 5)
    back = interpret.event_from_stored(dict(zip(EVENT_COLUMNS, e.row(), strict=True)))
    assert back == e
