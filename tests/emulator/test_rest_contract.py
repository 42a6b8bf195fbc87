"""Twilio contract: the Calls REST API through twilio-python, unchanged."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from callstream.ids import is_call_sid
from tests.emulator.conftest import FROM, TWIML, Emu, Target, twilio_client
from tests.helpers import ACCOUNT_SID, wait_until

REST_STATUSES = {
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
}
TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}


def test_create_answers_201_queued_call_json(target: Target) -> None:
    call = target.client.calls.create(
        to=target.to_number,
        from_=target.from_number,
        twiml=TWIML,
        status_callback=target.receiver.url("/cb/create"),
    )
    assert is_call_sid(call.sid)
    assert call.status == "queued"
    assert call.account_sid == target.account_sid
    assert call.direction == "outbound-api"
    assert call.api_version == "2010-04-01"
    assert call.to == target.to_number and call._from == target.from_number
    assert call.queue_time is not None and call.queue_time.isdigit()
    assert isinstance(call.date_created, datetime) and call.date_created.tzinfo == UTC
    assert call.uri == f"/2010-04-01/Accounts/{target.account_sid}/Calls/{call.sid}.json"
    assert call.subresource_uris is not None and "recordings" in call.subresource_uris
    assert call.parent_call_sid is None


def test_create_json_is_snake_case_with_rfc2822_dates(emu: Emu) -> None:
    r = httpx.post(
        f"{emu.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        data={"To": "+15558675310", "From": "+15005550006", "Url": "http://127.0.0.1:9/twiml"},
        auth=(ACCOUNT_SID, emu.config.auth_token),
    )
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "queued"
    assert re.fullmatch(
        r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000", body["date_created"]
    )
    assert body["start_time"] is None and body["end_time"] is None and body["duration"] is None
    assert {"sid", "from", "to_formatted", "queue_time", "price", "answered_by"} <= set(body)


def test_fetch_follows_the_call_and_never_says_initiated(target: Target) -> None:
    call = target.client.calls.create(to=target.to_number, from_=target.from_number, twiml=TWIML)
    seen: set[str] = set()

    def ended() -> bool:
        status = target.client.calls(call.sid).fetch().status
        seen.add(status)
        return status in TERMINAL

    wait_until(ended, timeout=60 if target.name == "twilio" else 10, what="terminal status")
    assert seen <= REST_STATUSES and "initiated" not in seen
    final = target.client.calls(call.sid).fetch()
    if target.name == "emulator":
        assert final.status == "completed"
        assert final.duration == "2"
        assert final.start_time is not None and final.end_time is not None


def test_list_filters_and_pages(target: Target) -> None:
    sids = [
        target.client.calls.create(to=target.to_number, from_=target.from_number, twiml=TWIML).sid
        for _ in range(3)
    ]
    listed = target.client.calls.list(to=target.to_number, page_size=2, limit=3)
    assert [c.sid for c in listed] == list(reversed(sids))  # newest first, across two pages
    page = target.client.calls.page(to=target.to_number, page_size=2)
    assert page.next_page_url is not None
    assert target.client.calls.list(to="+15550009999", limit=5) == []


def test_list_status_and_parent_filters(emu: Emu) -> None:
    c = emu.client.calls.create(to="+15558675310", from_="+15005550006", twiml=TWIML)
    wait_until(lambda: emu.client.calls(c.sid).fetch().status == "completed", what="completed")
    assert [x.sid for x in emu.client.calls.list(status="completed")] == [c.sid]
    assert emu.client.calls.list(status="queued") == []
    assert emu.client.calls.list(parent_call_sid="CA" + "0" * 32) == []
    today = datetime.now(UTC).date()
    assert [x.sid for x in emu.client.calls.list(start_time_after=today)] == [c.sid]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": ""}, 21201),
        ({"from_": ""}, 21213),
        ({"twiml": None}, 21205),
        ({"url": "not a url", "twiml": None}, 21205),
        ({"status_callback_event": ["bogus"]}, 21626),
        ({"status_callback_event": ["initiated ringing"]}, 21626),  # one field, not repeated
        ({"status_callback": "ftp://example.com/x"}, 21609),
        ({"to": "12345"}, 21211),
    ],
)
def test_create_errors_raise_twilio_rest_exception(
    target: Target, kwargs: dict[str, object], code: int
) -> None:
    args: dict[str, object] = {
        "to": target.to_number,
        "from_": target.from_number,
        "twiml": TWIML,
        "status_callback": target.receiver.url("/cb/err"),
    }
    args.update(kwargs)
    args = {k: v for k, v in args.items() if v is not None}
    with pytest.raises(TwilioRestException) as info:
        target.client.calls.create(**args)
    assert info.value.code == code
    assert info.value.status == 400


def test_bad_credentials_is_20003_401(target: Target) -> None:
    base = target.emu.url if target.emu else "https://api.twilio.com"
    bad = twilio_client(base, target.account_sid, "wrong-token")
    with pytest.raises(TwilioRestException) as info:
        bad.calls("CA" + "0" * 32).fetch()
    assert (info.value.code, info.value.status) == (20003, 401)
    with pytest.raises(TwilioRestException) as info:
        bad.calls.create(to=target.to_number, from_=target.from_number, twiml=TWIML)
    assert (info.value.code, info.value.status) == (20003, 401)


def test_unknown_account_is_20003(emu: Emu) -> None:
    other = twilio_client(emu.url, "AC" + "f" * 32, emu.config.auth_token)
    with pytest.raises(TwilioRestException) as info:
        other.calls.create(to="+15558675310", from_="+15005550006", twiml=TWIML)
    assert (info.value.code, info.value.status) == (20003, 401)
    assert emu.requests() == []


def test_unknown_call_is_20404(target: Target) -> None:
    with pytest.raises(TwilioRestException) as info:
        target.client.calls("CA" + "0" * 32).fetch()
    assert (info.value.code, info.value.status) == (20404, 404)
    with pytest.raises(TwilioRestException) as info:
        target.client.calls("CA" + "0" * 32).update(status="canceled")
    assert (info.value.code, info.value.status) == (20404, 404)


def test_requests_log_keeps_params_as_received(emu: Emu) -> None:
    call = emu.client.calls.create(
        to="+15558675310",
        from_="+15005550006",
        url="http://127.0.0.1:9/twiml",
        status_callback="http://127.0.0.1:9/cb",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    [entry] = emu.requests()
    assert entry["account_sid"] == ACCOUNT_SID
    assert entry["call_sid"] == call.sid
    assert isinstance(entry["received_at"], float)
    assert entry["response_status"] == 201
    events = [v for k, v in entry["params"] if k == "StatusCallbackEvent"]
    assert events == ["initiated", "ringing", "answered", "completed"]
    assert ["To", "+15558675310"] in entry["params"]


def test_delete_only_ended_calls(emu: Emu) -> None:
    call = emu.client.calls.create(to="+15558675310", from_="+15005550006", twiml=TWIML)
    wait_until(lambda: emu.client.calls(call.sid).fetch().status == "completed", what="end")
    assert emu.client.calls(call.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        emu.client.calls(call.sid).fetch()
    assert info.value.code == 20404


def test_counts_are_ascii_digits_or_a_400(emu: Emu) -> None:
    """PageSize, Page, Timeout and TimeLimit: a Unicode digit or a run of thousands of
    digits is Twilio's error JSON with 400, never a 500."""
    auth = (ACCOUNT_SID, emu.config.auth_token)
    calls = f"{emu.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    for query in ({"PageSize": "²"}, {"Page": "٣"}, {"PageSize": "9" * 5000}, {"Page": "-1"}):
        r = httpx.get(calls, params=query, auth=auth)
        assert r.status_code == 400, (query, r.text)
        assert r.json()["status"] == 400
    for name in ("Timeout", "TimeLimit"):
        r = httpx.post(
            calls, data={"To": "+15558675310", "From": FROM, "Twiml": TWIML, name: "²"}, auth=auth
        )
        assert r.status_code == 400, (name, r.text)
    assert httpx.get(calls, params={"PageSize": "5", "Page": "0"}, auth=auth).status_code == 200
    assert [r["call_sid"] for r in emu.requests()] == [None, None]  # logged, no call created
