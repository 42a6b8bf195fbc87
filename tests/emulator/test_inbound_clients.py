"""Voice SDK clients in the emulator: a call from ``client:NAME`` to the TwiML app, the
``<Dial><Client>`` child leg, ``<Dial callerId>``, and scenario entries for clients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import Scenarios, twiml
from emulator.inbound_request import default_app_sid
from emulator.scenarios import ScenarioError
from tests.emulator.conftest import Emu
from tests.emulator.receiver import Receiver
from tests.emulator.test_inbound import inbound
from tests.helpers import ACCOUNT_SID

EVENTS = 'statusCallbackEvent="initiated ringing answered completed"'
CALLER_ID = "+15005550006"


def _client_call(emu: Emu, receiver: Receiver, twiml_doc: str, **body: Any) -> str:
    return inbound(emu, receiver, twiml_doc, **{"from": "client:alice", "to": None, **body})


def test_client_call_requests_the_app_with_twilios_parameters(emu: Emu, receiver: Receiver) -> None:
    doc = (
        f'<Response><Dial callerId="{CALLER_ID}"><Number {EVENTS} '
        f'statusCallback="{receiver.url("/cb/child")}">+15550007777</Number></Dial></Response>'
    )
    parent = _client_call(emu, receiver, doc, to="+15550007777", params={"Mode": "test"})
    receiver.wait_terminal(parent)
    [voice] = receiver.at("/voice")
    assert voice.valid
    p = voice.p
    assert (p["From"], p["Caller"], p["To"], p["Called"]) == (
        "client:alice",
        "client:alice",
        "+15550007777",
        "",
    )
    assert (p["Direction"], p["CallStatus"], p["ApiVersion"]) == (
        "inbound",
        "ringing",
        "2010-04-01",
    )
    assert p["ApplicationSid"] == default_app_sid(ACCOUNT_SID) and p["Mode"] == "test"
    assert p["AccountSid"] == ACCOUNT_SID and p["CallSid"] == parent
    child_hits = receiver.at("/cb/child")
    assert [h.p["CallStatus"] for h in child_hits] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    # <Dial callerId> is the child's From
    assert {(h.p["From"], h.p["To"]) for h in child_hits} == {(CALLER_ID, "+15550007777")}
    [logged] = [t for t in httpx.get(emu.url + "/emulator/twiml-requests").json()]
    assert logged["call_sid"] == parent and logged["twiml"] == doc
    assert emu.client.calls(parent).fetch()._from == "client:alice"


def test_dial_client_creates_a_child_leg_to_the_client(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(scenarios=Scenarios.from_mapping({"clients": {"carol": {"ring": 10}}}))
    cb = receiver.url("/cb/child")
    doc = (
        f'<Response><Dial><Client {EVENTS} statusCallback="{cb}">bob</Client>'
        f'<Client statusCallback="{cb}"><Identity>carol</Identity></Client></Dial></Response>'
    )
    parent = _client_call(emu, receiver, doc, to="client:bob")
    receiver.wait_terminal(parent)
    hits = receiver.at("/cb/child")
    bob = [h for h in hits if h.p["To"] == "client:bob"]
    assert [h.p["CallStatus"] for h in bob] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(h.valid and h.p["From"] == "client:alice" for h in bob)
    assert all(h.p["Direction"] == "outbound-dial" and h.p["ParentCallSid"] == parent for h in bob)
    # carol (default subscription: `completed`) rings longer and loses the race to bob
    assert [h.p["CallStatus"] for h in hits if h.p["To"] == "client:carol"] == ["canceled"]
    children = {c.to for c in emu.client.calls.list(parent_call_sid=parent)}
    assert children == {"client:bob", "client:carol"}


def test_scenarios_name_clients(make_emulator: Callable[..., Emu], receiver: Receiver) -> None:
    scenarios = Scenarios.from_mapping(
        {"clients": {"bob": {"outcome": "busy"}, "z*": {"outcome": "failed", "sip_code": 480}}}
    )
    assert scenarios.outcome_for("client:bob").outcome == "busy"
    assert scenarios.outcome_for("client:zed").sip_code == 480
    assert scenarios.outcome_for("client:amy").outcome == "answered"
    emu = make_emulator(scenarios=scenarios)
    cb = receiver.url("/cb/child")
    doc = f'<Response><Dial><Client {EVENTS} statusCallback="{cb}">bob</Client></Dial></Response>'
    parent = _client_call(emu, receiver, doc, to="client:bob")
    receiver.wait_terminal(parent)
    assert [h.p["CallStatus"] for h in receiver.at("/cb/child")] == ["initiated", "busy"]


def test_scenario_file_with_clients_and_bad_entries(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[clients.bob]\noutcome = "no-answer"\n[numbers."client:amy"]\noutcome = "busy"\n')
    s = Scenarios.load(f)
    assert s.outcome_for("client:bob").outcome == "no-answer"
    assert s.outcome_for("client:amy").outcome == "busy"
    with pytest.raises(ScenarioError, match=r"clients\.bad name"):
        Scenarios.from_mapping({"clients": {"bad name": {}}})
    with pytest.raises(ScenarioError, match=r"clients\.bob"):
        Scenarios.from_mapping({"clients": {"bob": {"outcome": "maybe"}}})


def test_client_twiml_parse() -> None:
    [dial] = twiml.parse(
        '<Response><Dial callerId="client:alice"><Number>+15550001111</Number>'
        "<Client> bob </Client></Dial></Response>"
    )
    assert isinstance(dial, twiml.Dial) and dial.caller_id == "client:alice"
    number, client = dial.numbers
    assert not isinstance(number, twiml.Client) and isinstance(client, twiml.Client)
    assert client.number == "client:bob"
    for bad in ("<Client>bad name</Client>", "<Client></Client>", "<Client>a:b</Client>"):
        with pytest.raises(twiml.TwimlError, match="client identity"):
            twiml.parse(f"<Response><Dial>{bad}</Dial></Response>")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": 5}, "bad-number"),
        ({"to": "x" * 9000}, "bad-number"),
        ({"application_sid": "AP1"}, "bad-application-sid"),
        ({"params": {"From": "+15550001111"}}, "bad-params"),
        ({"params": {"ok": 1}}, "bad-params"),
        ({"from": "client:bad name"}, "bad-number"),
        ({"from": "+15550001111", "to": "+15550002222", "params": {}}, "bad-field"),
    ],
)
def test_inbound_body_errors(emu: Emu, receiver: Receiver, body: dict[str, Any], code: str) -> None:
    full = {"from": "client:alice", "voice_url": receiver.url("/voice"), **body}
    r = httpx.post(emu.url + "/emulator/inbound", json=full)
    assert r.status_code == 400 and r.json()["error"] == code, r.text


def test_client_may_send_no_to_and_hostile_to(emu: Emu, receiver: Receiver) -> None:
    hangup = "<Response><Hangup/></Response>"
    for to in (None, "sip:+15550001111@evil.example.com", "+1555abc", "+1" * 3000):
        body = {} if to is None else {"to": to}
        parent = _client_call(emu, receiver, hangup, **body)
        receiver.wait_terminal(parent)
        [voice] = [h for h in receiver.at("/voice") if h.p["CallSid"] == parent]
        assert voice.valid and voice.p["To"] == (to or "")
