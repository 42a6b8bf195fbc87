"""An outbound call request (docs/ingest.md, ``POST /dial``; docs/dialer.md): what a client
may send, what is filled in, the record on ``dialer.requests``, and one clear sentence for
every request refused (``/dial`` answers it in a 400, ``callstream dial`` prints it)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from callstream.dialrequest import EVENTS, DialRequest, DialRequestError, from_input, from_record

ACCT = "AC" + "2" * 32
AT = "2026-11-25T12:00:00.000000Z"
TO, FROM = "+14155550100", "+442071838750"
URL = "https://example.com/twiml"


def refused(body: Any, account: str = ACCT) -> str:
    with pytest.raises(DialRequestError) as e:
        from_input(body, account, AT)
    return str(e.value)


def test_request_defaults_are_filled() -> None:
    """Ingest fills account_sid, requested_at, a missing id and all four events."""
    r = from_input({"to": TO, "from": FROM, "url": URL}, ACCT, AT)
    assert r == DialRequest(r.id, ACCT, TO, FROM, URL, None, EVENTS, AT)
    assert EVENTS == ("initiated", "ringing", "answered", "completed")
    assert re.fullmatch(r"[0-9a-f]{32}", r.id)
    assert from_input({"to": TO, "from": FROM, "url": URL}, ACCT, AT).id != r.id
    now = from_input({"to": TO, "from": FROM, "url": URL}, ACCT)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now.requested_at)


def test_request_record_layout() -> None:
    r = from_input(
        {"to": TO, "from": FROM, "twiml": "<Response><Say>é</Say></Response>", "id": "a-1"},
        ACCT,
        AT,
    )
    raw = r.to_json()
    assert (
        raw
        == (
            '{"v":1,"id":"a-1","account_sid":"'
            + ACCT
            + '","to":"'
            + TO
            + '","from":"'
            + FROM
            + '",'
            '"twiml":"<Response><Say>é</Say></Response>",'
            '"status_callback_event":["initiated","ringing","answered","completed"],'
            '"requested_at":"' + AT + '"}'
        ).encode()
    )
    assert from_record(raw) == r
    with_url = from_input({"to": TO, "from": FROM, "url": URL, "id": "b"}, ACCT, AT)
    assert json.loads(with_url.to_json())["url"] == URL
    assert "twiml" not in json.loads(with_url.to_json())


def test_request_events_in_lifecycle_order_once_each() -> None:
    r = from_input(
        {"to": TO, "from": FROM, "url": URL, "status_callback_event": ["completed", "ringing"] * 2},
        ACCT,
        AT,
    )
    assert r.status_callback_event == ("ringing", "completed")


@pytest.mark.parametrize(
    ("rid", "ok"),
    [("x", True), ("x" * 128, True), ("x" * 129, False), ("", False), ("a\nb", False), (7, False)],
)
def test_request_id_is_1_to_128_printable_characters(rid: Any, ok: bool) -> None:
    body = {"to": TO, "from": FROM, "url": URL, "id": rid}
    if ok:
        assert from_input(body, ACCT, AT).id == rid
    else:
        assert refused(body) == "'id' must be a printable string of 1 to 128 characters"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "the body must be a JSON object"),
        ({"to": TO, "from": FROM, "url": URL, "b": 1, "a": 2}, "unknown field(s): a, b"),
        (
            {"to": "14155550100", "from": FROM, "url": URL},
            "'to' must be an E.164 phone number such as +14155550100",
        ),
        (
            {"to": TO, "from": 5, "url": URL},
            "'from' must be an E.164 phone number such as +14155550100",
        ),
        ({"to": TO, "from": FROM}, "give exactly one of 'url' and 'twiml'"),
        (
            {"to": TO, "from": FROM, "url": URL, "twiml": "x"},
            "give exactly one of 'url' and 'twiml'",
        ),
        (
            {"to": TO, "from": FROM, "url": "ftp://example.com"},
            "'url' must be an absolute http:// or https:// URL",
        ),
        ({"to": TO, "from": FROM, "url": 5}, "'url' must be an absolute http:// or https:// URL"),
        (
            {"to": TO, "from": FROM, "url": "https://e.com/" + "x" * 3987},
            "'url' is longer than 4000 characters",
        ),
        ({"to": TO, "from": FROM, "twiml": " \n"}, "'twiml' must be a non-empty string"),
        ({"to": TO, "from": FROM, "twiml": 5}, "'twiml' must be a non-empty string"),
        ({"to": TO, "from": FROM, "twiml": "x" * 4001}, "'twiml' is longer than 4000 characters"),
        (
            {"to": TO, "from": FROM, "url": URL, "status_callback_event": "answered"},
            "'status_callback_event' must be a non-empty list of event names",
        ),
        (
            {"to": TO, "from": FROM, "url": URL, "status_callback_event": []},
            "'status_callback_event' must be a non-empty list of event names",
        ),
        (
            {"to": TO, "from": FROM, "url": URL, "status_callback_event": ["ringing", 1]},
            "'status_callback_event' must be a non-empty list of event names",
        ),
        (
            {"to": TO, "from": FROM, "url": URL, "status_callback_event": ["x", "ringing", "b"]},
            "unknown event name(s) b, x; known: initiated, ringing, answered, completed",
        ),
    ],
)
def test_request_refused_with_one_clear_sentence(body: Any, reason: str) -> None:
    assert refused(body) == reason


def test_request_limits_are_inclusive() -> None:
    url = "https://e.com/" + "x" * 3986
    assert len(url) == 4000
    assert from_input({"to": TO, "from": FROM, "url": url}, ACCT, AT).url == url
    assert from_input({"to": TO, "from": FROM, "twiml": "x" * 4000}, ACCT, AT).twiml == "x" * 4000
    assert from_input({"to": TO, "from": FROM, "url": "http://e.com"}, ACCT, AT).url


def test_request_for_a_malformed_account_is_refused() -> None:
    reason = refused({"to": TO, "from": FROM, "url": URL}, account="AC123")
    assert reason == "account_sid must be 'AC' followed by 32 hex digits"


def record(**fields: Any) -> str:
    rec = {"v": 1, "id": "r1", "account_sid": ACCT, "requested_at": AT, "to": TO, "from": FROM}
    rec.update(fields)
    return json.dumps({k: v for k, v in rec.items() if v is not ...})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff", "record is not UTF-8 JSON"),
        ("{", "record is not UTF-8 JSON"),
        ("[" * 100_000, "record is not UTF-8 JSON"),
        ("[]", "record is not a JSON object"),
        (record(v=2, url=URL), "unsupported request version 2"),
        (record(v=..., url=URL), "unsupported request version None"),
        (record(id="", url=URL), "record has no 'id'"),
        (record(id=5, url=URL), "record has no 'id'"),
        (record(account_sid="AC1", url=URL), "record has no valid 'account_sid'"),
        (record(account_sid=None, url=URL), "record has no valid 'account_sid'"),
        (record(requested_at=..., url=URL), "record has no 'requested_at'"),
        (record(), "give exactly one of 'url' and 'twiml'"),
    ],
)
def test_request_record_malformed_says_why(raw: bytes | str, reason: str) -> None:
    with pytest.raises(DialRequestError) as e:
        from_record(raw)
    assert str(e.value) == reason


def test_request_record_keeps_what_was_requested() -> None:
    raw = record(url=URL, status_callback_event=["completed"], extra="ignored")
    r = from_record(raw)
    assert r == DialRequest("r1", ACCT, TO, FROM, URL, None, ("completed",), AT)
