from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstream.dialrequest import EVENTS, DialRequestError, from_input, from_record

ACCT = "AC" + "1" * 32
BASE = {"to": "+14155550100", "from": "+14155550101", "url": "https://example.com/twiml"}


def test_defaults_are_filled() -> None:
    r = from_input(dict(BASE), ACCT, requested_at="2026-01-01T00:00:00.000000Z")
    assert r.status_callback_event == EVENTS
    assert len(r.id) == 32 and r.account_sid == ACCT
    assert from_record(r.to_json()) == r


def test_given_id_is_kept() -> None:
    assert from_input({**BASE, "id": "order-42"}, ACCT).id == "order-42"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "JSON object"),
        ({**BASE, "to": "4155550100"}, "'to'"),
        ({**BASE, "from": None}, "'from'"),
        ({**BASE, "twiml": "<Response/>"}, "exactly one"),
        ({"to": BASE["to"], "from": BASE["from"]}, "exactly one"),
        ({**BASE, "url": "ftp://x"}, "'url'"),
        ({**BASE, "status_callback_event": ["answered", "hangup"]}, "hangup"),
        ({**BASE, "status_callback_event": "answered"}, "list"),
        ({**BASE, "status_callback_event": []}, "non-empty"),
        ({**BASE, "id": ""}, "'id'"),
        ({**BASE, "id": 7}, "'id'"),
        ({**BASE, "extra": 1}, "unknown field"),
        ({"to": BASE["to"], "from": BASE["from"], "twiml": "x" * 4001}, "4000"),
    ],
)
def test_invalid_requests_get_a_clear_reason(body: object, needle: str) -> None:
    with pytest.raises(DialRequestError, match=needle):
        from_input(body, ACCT)


@given(st.lists(st.sampled_from(EVENTS), min_size=1))
def test_events_are_deduplicated_in_lifecycle_order(events: list[str]) -> None:
    r = from_input({**BASE, "status_callback_event": events}, ACCT)
    assert r.status_callback_event == tuple(e for e in EVENTS if e in events)


@pytest.mark.parametrize("raw", [b"x", b"[]", b'{"v":2}', b'{"v":1,"id":"a"}'])
def test_malformed_records_raise(raw: bytes) -> None:
    with pytest.raises(DialRequestError):
        from_record(raw)
