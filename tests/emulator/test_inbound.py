"""Inbound calls: the TwiML request, ``<Dial><Number>`` children, parent ``completed`` only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from emulator import Outcome, Scenarios
from tests.emulator.conftest import Emu
from tests.emulator.receiver import Receiver
from tests.helpers import wait_until

CALLER, OUR_NUMBER, FORWARD = "+15005550001", "+15005550006", "+15550003333"


def _dial_twiml(receiver: Receiver, *numbers: str, method: str = "POST") -> str:
    nouns = "".join(
        f'<Number statusCallbackEvent="initiated ringing answered completed" '
        f'statusCallback="{receiver.url("/cb/child")}" statusCallbackMethod="{method}">'
        f"{n}</Number>"
        for n in numbers
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Connecting</Say>'
        f'<Dial timeout="20">{nouns}</Dial></Response>'
    )


def inbound(emu: Emu, receiver: Receiver, twiml: str, **body: Any) -> str:
    """An inbound call answered by ``twiml``; ``body`` overrides the request's fields (a
    None value leaves the field out)."""
    receiver.twiml["/voice"] = twiml
    full = {
        "from": CALLER,
        "to": OUR_NUMBER,
        "voice_url": receiver.url("/voice"),
        "status_callback": receiver.url("/cb/parent"),
        **body,
    }
    r = httpx.post(
        emu.url + "/emulator/inbound", json={k: v for k, v in full.items() if v is not None}
    )
    assert r.status_code == 201, r.text
    sid: str = r.json()["call_sid"]
    return sid


def test_dial_creates_parent_and_child_legs(emu: Emu, receiver: Receiver) -> None:
    parent = inbound(emu, receiver, _dial_twiml(receiver, FORWARD))
    done = receiver.wait_terminal(parent)
    [voice] = receiver.at("/voice")
    assert voice.valid and voice.method == "POST"
    assert voice.p["Direction"] == "inbound" and voice.p["CallSid"] == parent
    assert voice.p["From"] == CALLER and voice.p["To"] == OUR_NUMBER
    assert "CallbackSource" not in voice.p

    # parent: only `completed`, after the child ended
    [p] = receiver.at("/cb/parent")
    assert p is done and p.valid
    assert (p.p["CallStatus"], p.p["Direction"], p.p["SequenceNumber"]) == (
        "completed",
        "inbound",
        "0",
    )
    assert int(p.p["CallDuration"]) >= 3  # <Say> plus the child's ring and talk

    child_hits = receiver.at("/cb/child")
    child = child_hits[0].p["CallSid"]
    assert [h.p["CallStatus"] for h in child_hits] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [h.p["SequenceNumber"] for h in child_hits] == ["0", "1", "2", "3"]
    assert all(h.valid for h in child_hits)
    assert all(h.p["Direction"] == "outbound-dial" for h in child_hits)
    assert all(h.p["ParentCallSid"] == parent for h in child_hits)
    assert child_hits[0].p["To"] == FORWARD and child_hits[0].p["From"] == CALLER

    fetched = emu.client.calls(child).fetch()
    assert fetched.parent_call_sid == parent and fetched.direction == "outbound-dial"
    assert [c.sid for c in emu.client.calls.list(parent_call_sid=parent)] == [child]
    assert emu.client.calls(parent).fetch().direction == "inbound"


def test_child_busy_parent_still_completes(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(scenarios=Scenarios({FORWARD: Outcome("busy")}))
    parent = inbound(emu, receiver, _dial_twiml(receiver, FORWARD, method="GET"))
    receiver.wait_terminal(parent)
    child_hits = receiver.at("/cb/child")
    assert [h.p["CallStatus"] for h in child_hits] == ["initiated", "busy"]
    assert all(h.method == "GET" and h.valid for h in child_hits)


def test_simultaneous_numbers_first_answer_cancels_others(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    slow, fast = "+15550004444", "+15550005555"
    emu = make_emulator(scenarios=Scenarios({slow: Outcome(ring=10), fast: Outcome(ring=1)}))
    parent = inbound(emu, receiver, _dial_twiml(receiver, slow, fast))
    receiver.wait_terminal(parent)
    finals = {
        h.p["To"]: h.p["CallStatus"]
        for h in receiver.at("/cb/child")
        if h.p["CallStatus"] not in ("initiated", "ringing", "in-progress")
    }
    assert finals == {fast: "completed", slow: "canceled"}


def test_hangup_and_default_child_events(emu: Emu, receiver: Receiver) -> None:
    parent = inbound(emu, receiver, "<Response><Hangup/><Say>never</Say></Response>")
    p = receiver.wait_terminal(parent).p
    assert p["CallStatus"] == "completed" and p["CallDuration"] == "0"

    number = f'<Number statusCallback="{receiver.url("/cb/d")}">{FORWARD}</Number>'
    twiml = f"<Response><Dial>{number}</Dial></Response>"
    parent2 = inbound(emu, receiver, twiml)
    receiver.wait_terminal(parent2)
    assert [h.p["CallStatus"] for h in receiver.at("/cb/d")] == ["completed"]


def test_bad_twiml_ends_the_call(emu: Emu, receiver: Receiver) -> None:
    doc = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]><Response><Say>&x;</Say></Response>'
    )
    parent = inbound(emu, receiver, doc)
    assert receiver.wait_terminal(parent).p["CallStatus"] == "completed"
    assert len(emu.client.calls.list()) == 1  # no child leg


def test_inbound_validation(emu: Emu) -> None:
    r = httpx.post(emu.url + "/emulator/inbound", json={"from": CALLER, "to": OUR_NUMBER})
    assert r.status_code == 400 and r.json()["error"] == "bad-url"
    r = httpx.post(emu.url + "/emulator/inbound", content=b"nope")
    assert r.status_code == 400


def test_rest_hangup_of_inbound_parent_ends_child(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(scenarios=Scenarios({FORWARD: Outcome(talk=3000)}))
    parent = inbound(emu, receiver, _dial_twiml(receiver, FORWARD))
    wait_until(
        lambda: any(h.p["CallStatus"] == "in-progress" for h in receiver.at("/cb/child")),
        what="child answered",
    )
    emu.client.calls(parent).update(status="completed")
    assert receiver.wait_terminal(parent).p["CallStatus"] == "completed"
    child = receiver.at("/cb/child")[0].p["CallSid"]
    assert receiver.wait_terminal(child).p["CallStatus"] == "completed"
