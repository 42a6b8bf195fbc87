"""POST /twilio/voice (TwiML for inbound calls) and POST /dial (outbound call requests)."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import httpx

from callstream import topics
from callstream.settings import Settings
from tests.helpers import ACCOUNT_SID, read_topic
from tests.ingest.support import FORM, call_sid, callback, form, post_callback, served_ingest


def voice_request(sid: str) -> list[tuple[str, str]]:
    return [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", sid),
        ("From", "+14155550199"),
        ("To", "+14155550100"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("CalledCity", "São Paulo"),
    ]


def test_voice_forwards_with_status_callbacks(settings: Settings) -> None:
    s = dataclasses.replace(settings, forward_to="+14155550123")
    with served_ingest(s) as (_, client):
        r = post_callback(client, voice_request(call_sid()), path="/twilio/voice")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/xml")
        unsigned = client.post(
            "/twilio/voice", content=form(voice_request(call_sid())), headers={"Content-Type": FORM}
        )
        assert unsigned.status_code == 403
        assert client.get("/twilio/voice").status_code == 405
    root = ET.fromstring(r.content)
    number = root.find("./Dial/Number")
    assert number is not None and number.text == "+14155550123"
    assert number.attrib == {
        "statusCallbackEvent": "initiated ringing answered completed",
        "statusCallback": "https://hooks.example.com/twilio/status",
        "statusCallbackMethod": "POST",
    }


def test_voice_without_forwarding_number_says_so_and_hangs_up(settings: Settings) -> None:
    with served_ingest(settings) as (_, client):
        r = post_callback(client, voice_request(call_sid()), path="/twilio/voice")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert "not configured" in (root.findtext("Say") or "")


def test_dial_enqueues_request(settings: Settings) -> None:
    with served_ingest(settings) as (_, client):
        r = client.post(
            "/dial",
            json={"to": "+14155550100", "from": "+14155550101", "url": "https://example.com/twiml"},
        )
        assert r.status_code == 202, r.text
        rid = r.json()["id"]
        again = client.post(
            "/dial",
            json={
                "to": "+14155550100",
                "from": "+14155550101",
                "twiml": "<Response><Hangup/></Response>",
                "id": "my-id-1",
                "status_callback_event": ["completed"],
            },
        )
        assert again.status_code == 202 and again.json() == {"id": "my-id-1"}
        repeat = client.post(
            "/dial",
            json={
                "to": "+14155550100",
                "from": "+14155550101",
                "twiml": "<Response><Hangup/></Response>",
                "id": "my-id-1",
            },
        )
        assert repeat.status_code == 202 and repeat.json() == {"id": "my-id-1"}
    records = read_topic(settings, settings.topic(topics.DIALER_REQUESTS), expect=3)
    assert {r.key for r in records} == {ACCOUNT_SID.encode()}
    values = [json.loads(r.value) for r in records]
    first = next(v for v in values if v["id"] == rid)
    assert first["account_sid"] == ACCOUNT_SID and first["v"] == 1
    assert first["url"] == "https://example.com/twiml" and "twiml" not in first
    assert first["status_callback_event"] == ["initiated", "ringing", "answered", "completed"]
    assert first["requested_at"].endswith("Z")
    mine = [v for v in values if v["id"] == "my-id-1"]
    assert len(mine) == 2 and mine[0]["status_callback_event"] == ["completed"]


def test_dial_rejects_invalid(settings: Settings) -> None:
    ok = {"to": "+14155550100", "from": "+14155550101", "url": "https://example.com/t"}
    with served_ingest(settings) as (_, client):
        cases: list[tuple[httpx.Response, int, str]] = [
            (
                client.post(
                    "/dial", content=b"{not json", headers={"Content-Type": "application/json"}
                ),
                400,
                "bad-json",
            ),
            (client.post("/dial", json=[1, 2]), 400, "invalid-request"),
            (client.post("/dial", json={**ok, "to": "4155550100"}), 400, "invalid-request"),
            (client.post("/dial", json={**ok, "twiml": "<Response/>"}), 400, "invalid-request"),
            (
                client.post("/dial", json={k: v for k, v in ok.items() if k != "url"}),
                400,
                "invalid-request",
            ),
            (
                client.post("/dial", json={**ok, "status_callback_event": ["answered", "bogus"]}),
                400,
                "invalid-request",
            ),
            (client.post("/dial", json={**ok, "extra": 1}), 400, "invalid-request"),
            (
                client.post(
                    "/dial",
                    content=json.dumps({**ok, "twiml": "x" * 70000}).encode(),
                    headers={"Content-Type": "application/json"},
                ),
                413,
                "too-large",
            ),
            (
                client.post(
                    "/dial", content=form(callback(call_sid())), headers={"Content-Type": FORM}
                ),
                415,
                "unsupported-media-type",
            ),
        ]
        for r, status, code in cases:
            assert r.status_code == status, (r.status_code, r.text)
            assert r.json()["error"] == code
    assert read_topic(settings, settings.topic(topics.DIALER_REQUESTS), idle=0.3) == []


def test_dial_needs_the_bearer_token_when_one_is_set(settings: Settings) -> None:
    s = dataclasses.replace(settings, api_token="s3cret-token")
    ok = {"to": "+14155550100", "from": "+14155550101", "url": "https://example.com/t"}
    with served_ingest(s) as (_, client):
        assert client.post("/dial", json=ok).status_code == 401
        wrong = client.post("/dial", json=ok, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
        good = client.post("/dial", json=ok, headers={"Authorization": "Bearer s3cret-token"})
        assert good.status_code == 202
        # health stays open
        assert client.get("/livez").status_code == 200
