"""``POST /twilio/voice`` served by a real ingest app: Voice SDK routing, the refusal
metric and log line (with the reason, never the full number), and the startup check."""

from __future__ import annotations

import dataclasses
import logging
import xml.etree.ElementTree as ET

import pytest

from callstream.settings import Settings, SettingsError
from ingest.bootstrap import create_app
from tests.helpers import ACCOUNT_SID
from tests.ingest.support import call_sid, post_callback, served_ingest

HIDDEN = "+33155550123"


def client_call(to: str, frm: str = "client:alice") -> list[tuple[str, str]]:
    return [
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("ApplicationSid", "AP" + "1" * 32),
        ("CallSid", call_sid()),
        ("CallStatus", "ringing"),
        ("Called", ""),
        ("Caller", frm),
        ("Direction", "inbound"),
        ("From", frm),
        ("To", to),
    ]


def test_client_calls_are_routed_and_refusals_counted_and_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    s = dataclasses.replace(settings, caller_id="+14155550100", dial_allow=("+1415",))
    with served_ingest(s) as (_, client), caplog.at_level(logging.INFO, "callstream.ingest"):
        ok = post_callback(client, client_call("+14155550123"), path="/twilio/voice")
        bob = post_callback(client, client_call("client:bob"), path="/twilio/voice")
        refused = post_callback(client, client_call(HIDDEN), path="/twilio/voice")
        sip = post_callback(client, client_call("sip:x@evil.example.com"), path="/twilio/voice")
        metrics = client.get("/metrics").text
    for r in (ok, bob, refused, sip):
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    number = ET.fromstring(ok.content).find("Dial/Number")
    assert number is not None and number.text == "+14155550123"
    client = ET.fromstring(bob.content).find("Dial/Client")
    assert client is not None and client.text == "bob"
    for r in (refused, sip):
        assert [c.tag for c in ET.fromstring(r.content)] == ["Say", "Hangup"]
    assert 'callstream_ingest_voice_calls_total{route="dial-number"} 1.0' in metrics
    assert 'callstream_ingest_voice_calls_total{route="dial-client"} 1.0' in metrics
    assert 'callstream_ingest_voice_calls_total{route="refused"} 2.0' in metrics
    assert 'callstream_ingest_voice_refused_total{reason="not-allowed"} 1.0' in metrics
    assert 'callstream_ingest_voice_refused_total{reason="malformed-destination"} 1.0' in metrics
    lines = [r for r in caplog.records if r.getMessage() == "voice call refused"]
    assert [r.__dict__["reason"] for r in lines] == ["not-allowed", "malformed-destination"]
    assert lines[0].__dict__["caller"] == "client:alice"
    assert lines[0].__dict__["to"] == "+3315…(12)"
    assert all(HIDDEN not in r.getMessage() + str(r.__dict__) for r in caplog.records)


def test_default_refuses_every_number(settings: Settings) -> None:
    with served_ingest(settings) as (_, client):
        r = post_callback(client, client_call("+14155550123"), path="/twilio/voice")
    root = ET.fromstring(r.content)
    assert root.find("Dial") is None and "may not call" in (root.findtext("Say") or "")


def test_inbound_call_forwarded_to_a_client(settings: Settings) -> None:
    s = dataclasses.replace(settings, forward_to="client:bob")
    pstn = [(k, "+14155550199" if k in ("From", "Caller") else v) for k, v in client_call("")]
    with served_ingest(s) as (_, client):
        r = post_callback(client, pstn, path="/twilio/voice")
    client_el = ET.fromstring(r.content).find("Dial/Client")
    assert client_el is not None and client_el.text == "bob"
    assert client_el.attrib["statusCallback"] == "https://hooks.example.com/twilio/status"


def test_an_allow_list_without_a_caller_id_stops_startup(settings: Settings) -> None:
    with pytest.raises(SettingsError, match="CALLSTREAM_CALLER_ID"):
        create_app(dataclasses.replace(settings, dial_allow=("+1",)))
