"""Voice SDK clients end to end, with real processes: the embedded broker, the emulator,
ingest and the projector, each run by the ``callstream`` command. Calls are placed through
the emulator (``POST /emulator/inbound``, as Twilio would for a client or a phone), ingest's
``/twilio/voice`` routes them, the emulator follows the TwiML, every leg's callbacks go
through ingest into the topic, and the projector shows the legs; twilio-python reads the
emulator's view of the same calls."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.rest import Client

from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until
from tests.support.pipeline import Pipeline

CALLER_ID = "+15005550006"  # the account's number: clients' calls show it
OUR_NUMBER = "+15005550007"
PHONE = "+14155550199"  # somebody calling in
ALLOWED = "+14155550123"
ABROAD = "+33155550123"
FOUR = ["initiated", "ringing", "in-progress", "completed"]
API_SECRET = "voip-api-secret-never-logged-" + "a1b2" * 4
HOSTILE = [
    "+1415abc0123",
    "+14155550123,+14155550124",
    "+14155550123 +14155550124",
    "sip:+14155550123@evil.example.com",
    "+1415" + "5" * 2000,
    "client:bad name",
    "client:bob carol",
]


class Run:
    def __init__(self, p: Pipeline) -> None:
        self.p = p
        self.public = p.env["CALLSTREAM_PUBLIC_URL"]
        self.emu = p["emulator"].url
        self.twilio = Client(ACCOUNT_SID, AUTH_TOKEN)
        self.twilio.api.base_url = self.emu
        self.http = httpx.Client(timeout=20)

    def call(self, frm: str, to: str | None) -> str:
        body: dict[str, Any] = {
            "from": frm,
            "voice_url": self.public + "/twilio/voice",
            "status_callback": self.public + "/twilio/status",
        }
        if to is not None:
            body["to"] = to
        r = self.http.post(self.emu + "/emulator/inbound", json=body)
        assert r.status_code == 201, r.text
        sid: str = r.json()["call_sid"]
        return sid

    def projected(self, sid: str) -> dict[str, Any] | None:
        r = self.http.get(self.p["projector"].url + f"/calls/{sid}")
        return r.json() if r.status_code == 200 else None

    def settled(self, parent: str, n_children: int) -> dict[str, Any]:
        """The parent's projected row, once it and its children have ended (``completed``
        event projected for each leg)."""

        def done() -> dict[str, Any] | None:
            row = self.projected(parent)
            if row is None or row["ended_at"] is None or len(row["children"]) != n_children:
                return None
            kids = [self.projected(c) for c in row["children"]]
            return row if all(k and k["ended_at"] for k in kids) else None

        row = wait_until(done, timeout=60, what=f"legs of {parent} projected")
        assert isinstance(row, dict)
        return row

    def twiml(self, parent: str) -> ET.Element:
        log = self.http.get(self.emu + "/emulator/twiml-requests").json()
        [entry] = [e for e in log if e["call_sid"] == parent]
        return ET.fromstring(entry["twiml"])

    def child(self, parent: str) -> dict[str, Any]:
        row = self.settled(parent, 1)
        kid = self.projected(row["children"][0])
        assert kid is not None
        return kid


def statuses(leg: dict[str, Any]) -> list[str]:
    return [e["status"] for e in leg["events"]]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_voice_sdk_calls_leg_by_leg(tmp_path: Path) -> None:
    env = {
        "CALLSTREAM_CALLER_ID": CALLER_ID,
        "CALLSTREAM_DIAL_ALLOW": "+1415,+1212",
        "CALLSTREAM_FORWARD_TO": "client:bob",
        "CALLSTREAM_TWIML_APP_SID": "AP" + "9f" * 16,
        "TWILIO_API_KEY": "SK" + "5e" * 16,
        "TWILIO_API_SECRET": API_SECRET,
    }
    with Pipeline(tmp_path, **env) as p:
        p["emulator"].argv += ["--speed", "20"]
        p.start("broker", "emulator", "projector", "ingest")
        run = Run(p)
        try:
            check_calls(p, run)
        finally:
            run.http.close()


def check_calls(p: Pipeline, run: Run) -> None:
    allowed = run.call("client:alice", ALLOWED)
    abroad = run.call("client:alice", ABROAD)
    forwarded = run.call(PHONE, OUR_NUMBER)
    to_bob = run.call("client:alice", "client:bob")
    hostile = {to: run.call("client:alice", to) for to in HOSTILE}
    no_to = run.call("client:alice", None)

    # a client dialling an allowed number: parent inbound from client:alice, child
    # outbound-dial to the number from the caller ID, all four events
    kid = run.child(allowed)
    parent = run.projected(allowed)
    assert parent is not None
    assert (parent["direction"], parent["from_number"]) == ("inbound", "client:alice")
    assert (kid["direction"], kid["from_number"], kid["to_number"]) == (
        "outbound-dial",
        CALLER_ID,
        ALLOWED,
    )
    assert kid["parent_call_sid"] == allowed and statuses(kid) == FOUR
    [emu_kid] = run.twilio.calls.list(parent_call_sid=allowed)
    assert (emu_kid._from, emu_kid.to, emu_kid.status) == (CALLER_ID, ALLOWED, "completed")

    # outside the allow-list: the refusal TwiML, no child leg
    row = run.settled(abroad, 0)
    assert row["from_number"] == "client:alice" and row["status"] == "completed"
    refusal = run.twiml(abroad)
    assert [c.tag for c in refusal] == ["Say", "Hangup"] and refusal.find("Dial") is None
    assert run.twilio.calls.list(parent_call_sid=abroad) == []

    # a phone call to the number, forwarded to client:bob
    bob_leg = run.child(forwarded)
    assert (bob_leg["from_number"], bob_leg["to_number"]) == (PHONE, "client:bob")
    assert bob_leg["direction"] == "outbound-dial" and statuses(bob_leg) == FOUR

    # client to client
    c2c = run.child(to_bob)
    assert (c2c["from_number"], c2c["to_number"]) == ("client:alice", "client:bob")
    assert statuses(c2c) == FOUR

    # hostile destinations and a missing one: refused, nothing dialled
    for to, sid in [*hostile.items(), ("(none)", no_to)]:
        run.settled(sid, 0)
        assert run.twiml(sid).find("Dial") is None, to
        assert run.twilio.calls.list(parent_call_sid=sid) == [], to

    # the projector lists a client's calls as either party
    listed = run.http.get(p["projector"].url + "/calls", params={"client": "bob"}).json()
    bob_calls = {c["call_sid"] for c in listed["calls"]}
    assert bob_calls == {bob_leg["call_sid"], c2c["call_sid"], to_bob}

    metrics = run.http.get(p["ingest"].url + "/metrics").text
    refused = len(HOSTILE) + 2  # the hostile ones, ABROAD and the one without a To
    assert f'callstream_ingest_voice_calls_total{{route="refused"}} {refused}.0' in metrics
    assert 'callstream_ingest_voice_calls_total{route="dial-number"} 1.0' in metrics
    assert 'callstream_ingest_voice_calls_total{route="dial-client"} 2.0' in metrics
    assert 'callstream_ingest_voice_refused_total{reason="not-allowed"} 1.0' in metrics
    assert 'callstream_ingest_voice_refused_total{reason="no-destination"} 1.0' in metrics
    mal = (
        f'callstream_ingest_voice_refused_total{{reason="malformed-destination"}} {len(HOSTILE)}.0'
    )
    assert mal in metrics

    # one log line per refusal, with its reason, never the number asked for
    log = p["ingest"].log_text()
    assert log.count('"voice call refused"') == refused
    for to in (ABROAD, *HOSTILE[:5]):
        assert to not in log
    # ingest logs its settings at start: the API secret is not among them
    assert '"twilio_api_secret": "***"' in log
    assert API_SECRET not in p.logs()
