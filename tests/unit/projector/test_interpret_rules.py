"""How the projector reads one record (docs/projector.md): times, numbers, and the fast way
through records of callstream's own layout, which must never accept what the general way
rejects nor crash on what it rejects politely."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callstream.envelope import encode
from projector.events import EVENT_COLUMNS, Event, Rejected
from projector.interpret import event_from_stored, interpret, rfc2822_to_iso

SID = "CA" + "5" * 32
URL = "https://hooks.example.com/twilio/status"
AT = "2026-11-25T12:00:00.000000Z"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def params(seq: str = "1", status: str = "ringing", **extra: Any) -> list[list[Any]]:
    out: list[list[Any]] = [["CallSid", SID], ["SequenceNumber", seq], ["CallStatus", status]]
    return out + [[k, v] for k, v in extra.items()]


def read(value: bytes | str) -> Event:
    got = interpret(value, 0, 0)
    assert isinstance(got, Event), got
    return got


def rejected(value: bytes | str | None) -> str:
    got = interpret(value, 0, 0)
    assert isinstance(got, Rejected), got
    return got.reason


# -- Timestamp: RFC 2822 in, ISO 8601 UTC out --------------------------------------------


@pytest.mark.parametrize(("month", "number"), [(m, i) for i, m in enumerate(MONTHS, 1)])
def test_timestamp_every_month_name(month: str, number: int) -> None:
    assert (
        rfc2822_to_iso(f"Sun, 07 {month} 2029 08:09:10 +0000") == f"2029-{number:02d}-07T08:09:10Z"
    )
    assert (
        rfc2822_to_iso(f"07 {month.upper()} 2029 08:09:10 GMT") == f"2029-{number:02d}-07T08:09:10Z"
    )


@pytest.mark.parametrize("zone", ["GMT", "UT", "UTC", "Z", "-0000", "+0000", ""])
def test_timestamp_utc_zones_and_no_zone_at_all(zone: str) -> None:
    """RFC 2822's names for UTC, and a time without a zone, which is read as UTC."""
    assert rfc2822_to_iso(f"Tue, 01 Nov 2016 01:59:13 {zone}") == "2016-11-01T01:59:13Z"
    assert rfc2822_to_iso(f"01 Nov 2016 01:59:13 {zone}") == "2016-11-01T01:59:13Z"


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Tue, 01 Nov 2016 03:29:13 +0130", "2016-11-01T01:59:13Z"),
        ("Mon, 31 Oct 2016 17:59:13 -0800", "2016-11-01T01:59:13Z"),
        ("Tue, 01 Nov 2016 01:59 +0000", "2016-11-01T01:59:00Z"),  # seconds are optional
        ("  Tue,01 Nov 2016 01:59:13 +0000  ", "2016-11-01T01:59:13Z"),
        ("Tue, 1 Nov 2016 1:2:3 +0000", "2016-11-01T01:02:03Z"),
    ],
)
def test_timestamp_offsets_and_spellings(text: str, iso: str) -> None:
    assert rfc2822_to_iso(text) == iso


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Tue, 01 Nov 2016",  # no time
        "01 Nov 2016",
        "Tue, 01 Foo 2016 01:59:13 +0000",  # no such month
        "Tue, 01 Nov 2016 01 +0000",  # hours only
        "Tue, 01 Nov 2016 01:59:13:00 +0000",  # too many fields
        "Tue, 01 Nov 2016 01:59:xx +0000",
        "Tue, 01 Nov 2016 01:59:13 EST",  # not a zone this reader knows
        "Tue, 01 Nov 2016 01:59:13 +01",
        "Tue, 01 Nov 2016 01:59:13 0100",
        "Tue, 01 Nov 2016 01:59:13 +01x0",
        "Tue, 31 Nov 2016 01:59:13 +0000",  # no such day
        "Tue, 01 Nov 99999 01:59:13 +0000",  # no such year
        "Sat, 01 Jan 0001 00:00:00 +0100",  # before the first representable time
    ],
)
def test_timestamp_unreadable_is_none(text: str) -> None:
    assert rfc2822_to_iso(text) is None


def test_timestamp_unreadable_is_not_a_rejection() -> None:
    """ "An unreadable Timestamp is not a rejection: the callback counts, its time column
    stays null."""
    e = read(encode(AT, "POST", URL, params(Timestamp="yesterday"), None))
    assert e.timestamp is None
    e = read(encode(AT, "POST", URL, params(Timestamp=""), None))
    assert e.timestamp is None


# -- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seq"),
    [("0", 0), (" 7 ", 7), ("999999999999999999", 999_999_999_999_999_999), ("+5", 5)],
)
def test_sequence_number_readable(raw: str, seq: int) -> None:
    assert read(encode(AT, "POST", URL, params(seq=raw), None)).sequence_number == seq


@pytest.mark.parametrize(
    "raw",
    ["", " ", "-1", "1.5", "x", "1" * 19, "9" * 40, "-99999999999999999"],
)
def test_sequence_number_unreadable_is_rejected(raw: str) -> None:
    """More than 18 digits, a sign below zero, or not a number at all."""
    value = encode(AT, "POST", URL, params(seq=raw), None)
    got = interpret(value, 4, 8)
    assert got == Rejected(4, 8, f"bad-sequence-number: {raw[:40]!r}", SID, AT, value.decode())


def test_sequence_number_reason_quotes_at_most_40_characters() -> None:
    raw = "y" * 100
    reason = rejected(encode(AT, "POST", URL, params(seq=raw), None))
    assert reason == "bad-sequence-number: " + repr("y" * 40)


def test_terminal_numbers_of_more_than_18_digits_are_null() -> None:
    e = read(
        encode(
            AT,
            "POST",
            URL,
            params(
                seq="3",
                status="completed",
                CallDuration="1" * 19,
                Duration="2" * 18,
                SipResponseCode=" ",
            ),
            None,
        )
    )
    assert (e.call_duration_s, e.billed_minutes, e.sip_response_code) == (None, int("2" * 18), None)


def test_status_is_read_without_case_or_spaces() -> None:
    assert read(encode(AT, "POST", URL, params(status=" Completed "), None)).status == "completed"
    assert read(encode(AT, "POST", URL, params(status="ANSWERED"), None)).status == "in-progress"


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        ([["SequenceNumber", "1"], ["CallStatus", "ringing"]], "no-call-sid"),
        ([["CallSid", "  "], ["SequenceNumber", "1"], ["CallStatus", "ringing"]], "no-call-sid"),
        ([["CallSid", SID], ["CallStatus", "ringing"]], "no-sequence-number"),
        ([["CallSid", SID], ["SequenceNumber", "1"]], "no-call-status"),
        ([["CallSid", SID], ["SequenceNumber", "1"], ["CallStatus", " "]], "no-call-status"),
    ],
)
def test_missing_identifiers_are_rejected_with_their_reason(
    pairs: list[list[str]], reason: str
) -> None:
    value = encode(AT, "POST", URL, pairs, None)
    got = interpret(value, 3, 9)
    assert isinstance(got, Rejected)
    assert (got.reason, got.partition, got.offset, got.received_at) == (reason, 3, 9, AT)
    assert got.value == value.decode()
    assert got.call_sid == (None if reason == "no-call-sid" else SID)


def test_the_first_value_of_a_repeated_parameter_is_read() -> None:
    e = read(encode(AT, "POST", URL, [*params(seq="4"), ["SequenceNumber", "9"]], None))
    assert e.sequence_number == 4


# -- the fast way through callstream's own layout -----------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        ["CallSid", 5],  # a number where a string must be
        ["CallStatus", None],  # null is not an absent parameter
        ["CallSid", None],
        ["SequenceNumber", None],
        ["Timestamp", ["a"]],
        ["To", {"x": 1}],
    ],
)
def test_own_layout_with_a_value_not_a_string_is_rejected_not_a_crash(bad: list[Any]) -> None:
    value = encode(AT, "POST", URL, [bad, *params()], None)
    assert rejected(value).startswith("malformed-envelope: ")
    assert rejected(value.decode()) == rejected(value)


@pytest.mark.parametrize("pairs", [[["CallSid"]], [["a", "b", "c"]], ["CallSid"], [5], [None]])
def test_own_layout_with_params_not_pairs_is_rejected(pairs: list[Any]) -> None:
    value = encode(AT, "POST", URL, [*params(), *pairs], None)
    assert rejected(value).startswith("malformed-envelope: ")


def own(**fields: Any) -> bytes:
    """callstream's own layout (the keys in encode's order, compact) with some values
    replaced by whatever JSON is given."""
    rec = {
        "v": 1,
        "received_at": AT,
        "method": "POST",
        "url": URL,
        "params": params(),
        "idempotency_token": None,
    }
    rec.update(fields)
    return json.dumps(rec, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "field",
    [
        {"received_at": 5},
        {"method": None},
        {"url": ["x"]},
        {"params": {"CallSid": SID}},
        {"params": "CallSid=CA"},
        {"idempotency_token": 7},
        {"v": 2},
    ],
)
def test_own_layout_with_a_field_of_the_wrong_type_is_rejected(field: dict[str, Any]) -> None:
    assert rejected(own(**field)).startswith("malformed-envelope: ")


def test_own_layout_reads_the_token_when_there_is_one() -> None:
    assert read(own(idempotency_token="tok-1")).call_sid == SID


@pytest.mark.parametrize(
    "tail",
    [b"x", b"}", b" ", b"\n", b"]", b',"more":1}'],
)
def test_own_layout_followed_by_anything_is_not_taken_as_is(tail: bytes) -> None:
    """Bytes after the envelope: either not JSON (rejected) or more keys (read the general
    way, whose params text is compact JSON)."""
    spaced = own()[:-1].replace(b'"params":[[', b'"params":[ [')
    value = spaced + b"}" + tail if tail != b',"more":1}' else spaced + tail
    got = interpret(value, 0, 0)
    if isinstance(got, Event):
        assert json.loads(value)  # only when the whole value is JSON
        assert got.params == json.dumps(params(), separators=(",", ":"))
    else:
        assert got.reason.startswith("malformed-envelope: ")


def test_own_layout_keeps_the_arrays_own_text() -> None:
    """The one thing the fast way does differently: params text as written."""
    spaced = own().replace(b'"params":[[', b'"params":[ [')
    assert (
        read(spaced).params
        == '[ ["CallSid","' + SID + '"],["SequenceNumber","1"],["CallStatus","ringing"]]'
    )


@pytest.mark.parametrize(
    "value",
    [
        own()[:-1] + b',"idempotency_token":null}',  # the token twice: not the own layout
        own().replace(b',"method":', b', "method":'),
        own().replace(b',"url":', b',"URL":'),
        own().replace(b',"params":', b',"PARAMS":'),
        own().replace(b',"idempotency_token":', b',"token":'),
        own().replace(b'"method":"POST"', b'"method":"PO'),
        own().replace(b'"url":"', b'"url":x'),
        own().replace(b'"received_at":"', b'"received_at":'),
        own().replace(b'"idempotency_token":null', b'"idempotency_token":nul'),
        own()[:-1],
        b"\xff" + own(),
        own().replace(SID.encode(), b"\xc3\x28"),
    ],
)
def test_own_layout_damaged_is_read_as_the_general_way_reads_it(value: bytes) -> None:
    try:
        general = interpret(value.decode(), 0, 0)
    except UnicodeDecodeError:
        assert rejected(value).startswith("malformed-envelope: ")
        return
    got = interpret(value, 0, 0)
    if isinstance(general, Rejected):
        assert isinstance(got, Rejected)
        assert got.reason.split(":")[0] == general.reason.split(":")[0]
    else:
        assert isinstance(got, Event)
        assert json.loads(got.params) == json.loads(general.params)
        assert got.params == general.params  # compact JSON either way here


@pytest.mark.parametrize(
    ("value", "text"),
    [(b"not json", "not json"), (b"\xff{", "\ufffd{"), ("[1]", "[1]"), (None, None)],
)
def test_rejected_record_keeps_its_value_as_text(value: bytes | str | None, text: str) -> None:
    """rejected_events keeps the record's value (lossy only for bytes not UTF-8)."""
    got = interpret(value, 1, 2)
    assert isinstance(got, Rejected)
    assert (got.value, got.partition, got.offset, got.call_sid) == (text, 1, 2, None)


def test_stored_event_reads_back() -> None:
    e = read(encode(AT, "POST", URL, params(seq="3", status="busy", Duration="2"), "tok"))
    row = dict(zip(EVENT_COLUMNS, e.row(), strict=True))
    assert event_from_stored(row) == e
    assert event_from_stored({**row, "received_at": None}).received_at == ""
    with pytest.raises(ValueError, match=r"^stored event cannot be read again: no-call-sid$"):
        event_from_stored({**row, "params": '[["SequenceNumber","3"]]'})


# docs/projector.md: each column of a call's event and the callback parameter it comes from
FROM_PARAMETER = {
    "account_sid": ("AccountSid", "AC" + "1" * 32, "AC" + "1" * 32),
    "parent_call_sid": ("ParentCallSid", "CA" + "2" * 32, "CA" + "2" * 32),
    "direction": ("Direction", "outbound-dial", "outbound-dial"),
    "from_number": ("From", "+14155550100", "+14155550100"),
    "to_number": ("To", "+14155550199", "+14155550199"),
    "call_duration_s": ("CallDuration", "12", 12),
    "billed_minutes": ("Duration", "1", 1),
    "sip_response_code": ("SipResponseCode", "487", 487),
    "answered_by": ("AnsweredBy", "unknown", "unknown"),
    "timestamp": ("Timestamp", "Tue, 01 Nov 2016 01:59:13 +0000", "2016-11-01T01:59:13Z"),
}


def test_every_column_comes_from_its_parameter() -> None:
    """The identity columns from AccountSid, ParentCallSid, Direction, From and To; the end
    columns from the terminal callback's CallDuration, Duration, SipResponseCode and
    AnsweredBy; times from Timestamp; received_at from the envelope; params as sent."""
    sent = {name: raw for name, raw, _ in FROM_PARAMETER.values()}
    pairs = params(seq="6", status="no-answer", **sent)
    got = interpret(encode(AT, "POST", URL, pairs, None), 2, 11)
    assert isinstance(got, Event)
    for column, (_, _, value) in FROM_PARAMETER.items():
        assert getattr(got, column) == value, column
    assert (got.call_sid, got.sequence_number, got.status) == (SID, 6, "no-answer")
    assert (got.received_at, got.position) == (AT, (2, 11))
    assert got.params == json.dumps(pairs, separators=(",", ":"))


def test_an_empty_parameter_is_no_value() -> None:
    names = ("AccountSid", "ParentCallSid", "Direction", "From", "To", "AnsweredBy")
    pairs = params(seq="2", status="completed", **dict.fromkeys(names, ""))
    e = read(encode(AT, "POST", URL, pairs, None))
    got = (e.account_sid, e.parent_call_sid, e.direction, e.from_number, e.to_number)
    assert got == (None,) * 5
    assert e.answered_by is None


@pytest.mark.parametrize("token", [None, "tok"])
@pytest.mark.parametrize("layout", ["own", "spaced", "text"])
def test_a_parameter_the_projector_does_not_read_is_not_checked(
    layout: str, token: str | None
) -> None:
    """Only the parameters the projector reads must be strings; others are kept as they
    are, whichever way the record is read (docs/projector.md: unknown parameters are kept
    in params and otherwise ignored)."""
    pairs = [*params(), ["Digits", 5], ["Extra", None]]
    value = own(params=pairs, idempotency_token=token)
    if layout == "spaced":
        value = json.dumps(json.loads(value)).encode()
    e = read(value.decode() if layout == "text" else value)
    assert json.loads(e.params) == pairs
    assert (e.call_sid, e.sequence_number, e.status, e.received_at) == (SID, 1, "ringing", AT)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b'{"v": 2}', "unsupported envelope version 2 (this reader knows 1)"),
        (None, "record has no value"),
        (own(url=None), "field 'url' is missing or not a string"),
        (
            own(params=[*params(), ["To", 1]]),
            "each entry of 'params' must be a [name, value] pair of strings",
        ),
    ],
)
def test_malformed_envelope_reason_is_the_decoders(value: bytes | None, why: str) -> None:
    """rejected_events.reason says what is wrong, in the envelope decoder's words."""
    assert rejected(value) == "malformed-envelope: " + why
