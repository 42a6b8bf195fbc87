"""Twilio contract: which status callbacks are sent, with what, and signed how."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

from emulator import Outcome, Scenarios
from tests.emulator.conftest import TWIML, Emu, Target
from tests.emulator.receiver import Receiver
from tests.helpers import ACCOUNT_SID, wait_until

ALL = ["initiated", "ringing", "answered", "completed"]
STANDARD = {
    "AccountSid",
    "ApiVersion",
    "CallSid",
    "CallStatus",
    "Called",
    "Caller",
    "Direction",
    "From",
    "To",
}


def test_default_subscription_is_completed_only(target: Target) -> None:
    r = target.receiver
    call = target.client.calls.create(
        to=target.to_number,
        from_=target.from_number,
        twiml=TWIML,
        status_callback=r.url("/cb/default"),
    )
    hit = r.wait_terminal(call.sid, timeout=90 if target.name == "twilio" else 20)
    hits = r.for_call(call.sid)
    assert [h.p["CallStatus"] for h in hits] == [hit.p["CallStatus"]]
    p = hit.p
    assert hit.valid and hit.method == "POST"
    assert set(p) >= STANDARD
    assert p["AccountSid"] == target.account_sid and p["CallSid"] == call.sid
    assert p["Direction"] == "outbound-api" and p["ApiVersion"] == "2010-04-01"
    assert p["Caller"] == p["From"] and p["Called"] == p["To"]
    assert "ParentCallSid" not in p
    assert p["SequenceNumber"] == "0"
    assert p["CallbackSource"] == "call-progress-events"
    assert parsedate_to_datetime(p["Timestamp"]).utcoffset() is not None
    assert p["Timestamp"].endswith("+0000")
    assert p["CallDuration"].isdigit() and p["Duration"].isdigit() and "SipResponseCode" in p
    if target.name == "emulator":
        assert (p["CallStatus"], p["CallDuration"], p["Duration"], p["SipResponseCode"]) == (
            "completed",
            "2",
            "1",
            "200",
        )


def test_all_events_answered_sent_as_in_progress(target: Target) -> None:
    r = target.receiver
    call = target.client.calls.create(
        to=target.to_number,
        from_=target.from_number,
        twiml=TWIML,
        status_callback=r.url("/cb/all"),
        status_callback_event=ALL,
    )
    r.wait_terminal(call.sid, timeout=90 if target.name == "twilio" else 20)
    hits = sorted(r.for_call(call.sid), key=lambda h: int(h.p["SequenceNumber"]))
    statuses = [h.p["CallStatus"] for h in hits]
    assert "answered" not in statuses
    assert [int(h.p["SequenceNumber"]) for h in hits] == list(range(len(hits)))
    assert all(h.valid for h in hits)
    for h in hits[:-1]:
        assert not {"CallDuration", "SipResponseCode", "Duration"} & set(h.p)
    if target.name == "emulator":
        assert statuses == ["initiated", "ringing", "in-progress", "completed"]


def test_subset_counts_only_callbacks_sent(emu: Emu, receiver: Receiver) -> None:
    call = emu.client.calls.create(
        to="+15558675310",
        from_="+15005550006",
        twiml=TWIML,
        status_callback=receiver.url("/cb/subset"),
        status_callback_event=["answered", "completed"],
    )
    receiver.wait_terminal(call.sid)
    hits = receiver.for_call(call.sid)
    assert [(h.p["SequenceNumber"], h.p["CallStatus"]) for h in hits] == [
        ("0", "in-progress"),
        ("1", "completed"),
    ]


def test_get_callbacks_are_signed_over_the_full_url(emu: Emu, receiver: Receiver) -> None:
    call = emu.client.calls.create(
        to="+15558675310",
        from_="+15005550006",
        twiml=TWIML,
        status_callback=receiver.url("/cb/get?tenant=acme&x=a%20b"),
        status_callback_method="GET",
        status_callback_event=["ringing", "completed"],
    )
    hit = receiver.wait_terminal(call.sid)
    assert hit.method == "GET" and hit.valid
    assert hit.p["tenant"] == "acme" and hit.p["x"] == "a b"
    assert hit.p["CallStatus"] == "completed"
    assert all(h.valid for h in receiver.for_call(call.sid))


def test_fragment_is_not_sent_nor_signed(emu: Emu, receiver: Receiver) -> None:
    call = emu.client.calls.create(
        to="+15558675310",
        from_="+15005550006",
        twiml=TWIML,
        status_callback=receiver.url("/cb/frag?q=1#ct=2000&rt=3000&rc=2&rp=5xx"),
    )
    hit = receiver.wait_terminal(call.sid)
    assert hit.valid
    assert hit.url == receiver.url("/cb/frag?q=1")
    assert "ct" not in hit.p and "rc" not in hit.p


def test_signature_headers_and_idempotency_token(emu: Emu, receiver: Receiver) -> None:
    call = emu.client.calls.create(
        to="+15558675310",
        from_="+15005550006",
        twiml=TWIML,
        status_callback=receiver.url("/cb/h"),
        status_callback_event=ALL,
    )
    receiver.wait_terminal(call.sid)
    hits = receiver.for_call(call.sid)
    assert all(h.headers["content-type"] == "application/x-www-form-urlencoded" for h in hits)
    tokens = {h.headers["i-twilio-idempotency-token"] for h in hits}
    assert len(tokens) == len(hits) == 4


def _scenario_call(
    make_emulator: Callable[..., Emu], receiver: Receiver, outcome: Outcome, **create: object
) -> dict[str, str]:
    emu = make_emulator(scenarios=Scenarios({"+15550000001": outcome}), speed=100.0)
    call = emu.client.calls.create(
        to="+15550000001",
        from_="+15005550006",
        twiml=TWIML,
        status_callback=receiver.url("/cb/s"),
        status_callback_event=ALL,
        **create,
    )
    receiver.wait_terminal(call.sid)
    final = emu.client.calls(call.sid).fetch()
    p = receiver.wait_terminal(call.sid).p
    assert final.status == p["CallStatus"]
    p["_statuses"] = ",".join(h.p["CallStatus"] for h in receiver.for_call(call.sid))
    return p


def test_busy(make_emulator: Callable[..., Emu], receiver: Receiver) -> None:
    p = _scenario_call(make_emulator, receiver, Outcome("busy", ring=0.5))
    assert (p["CallStatus"], p["SipResponseCode"], p["CallDuration"], p["Duration"]) == (
        "busy",
        "486",
        "0",
        "0",
    )
    assert p["_statuses"] == "initiated,busy"


def test_no_answer_after_timeout(make_emulator: Callable[..., Emu], receiver: Receiver) -> None:
    p = _scenario_call(make_emulator, receiver, Outcome("no-answer"), timeout=5)
    assert (p["CallStatus"], p["SipResponseCode"], p["CallDuration"]) == ("no-answer", "487", "0")
    assert p["_statuses"] == "initiated,ringing,no-answer"


def test_ring_longer_than_timeout_is_no_answer(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    p = _scenario_call(make_emulator, receiver, Outcome("answered", ring=20), timeout=4)
    assert p["CallStatus"] == "no-answer"


def test_failed_with_sip_code(make_emulator: Callable[..., Emu], receiver: Receiver) -> None:
    p = _scenario_call(make_emulator, receiver, Outcome("failed", ring=0.2, sip_code=503))
    assert (p["CallStatus"], p["SipResponseCode"]) == ("failed", "503")


def test_machine_answered_reports_answered_by(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    p = _scenario_call(
        make_emulator, receiver, Outcome("machine", talk=70), machine_detection="Enable"
    )
    assert (p["CallStatus"], p["AnsweredBy"], p["CallDuration"], p["Duration"]) == (
        "completed",
        "machine_start",
        "70",
        "2",
    )


def test_no_answered_by_without_machine_detection(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    p = _scenario_call(make_emulator, receiver, Outcome("machine"))
    assert "AnsweredBy" not in p


def test_time_limit_cuts_the_call(make_emulator: Callable[..., Emu], receiver: Receiver) -> None:
    p = _scenario_call(make_emulator, receiver, Outcome(talk=100), time_limit=3)
    assert p["CallDuration"] == "3"


def test_canceled_while_queued_sends_nothing(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(cps=2.0)
    kw = {"from_": "+15005550006", "twiml": TWIML, "status_callback_event": ALL}
    first = emu.client.calls.create(to="+15550000001", status_callback=receiver.url("/cb/q"), **kw)
    queued = emu.client.calls.create(to="+15550000002", status_callback=receiver.url("/cb/q"), **kw)
    assert emu.client.calls(queued.sid).update(status="canceled").status == "canceled"
    after = emu.client.calls.create(to="+15550000003", status_callback=receiver.url("/cb/q"), **kw)
    receiver.wait_terminal(first.sid)
    receiver.wait_terminal(after.sid)  # left the queue after the canceled one would have
    assert receiver.for_call(queued.sid) == []
    assert emu.callbacks(queued.sid) == []
    assert emu.client.calls(queued.sid).fetch().status == "canceled"


def test_canceled_while_ringing_sends_canceled(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(scenarios=Scenarios({"+15550000001": Outcome("no-answer")}))
    call = emu.client.calls.create(
        to="+15550000001",
        from_="+15005550006",
        twiml=TWIML,
        timeout=600,
        status_callback=receiver.url("/cb/c"),
        status_callback_event=ALL,
    )
    wait_until(
        lambda: any(h.p["CallStatus"] == "ringing" for h in receiver.for_call(call.sid)),
        what="ringing",
    )
    assert emu.client.calls(call.sid).update(status="canceled").status == "canceled"
    p = receiver.wait_terminal(call.sid).p
    assert (p["CallStatus"], p["SipResponseCode"], p["CallDuration"], p["SequenceNumber"]) == (
        "canceled",
        "487",
        "0",
        "2",
    )


def test_completed_hangs_up_in_progress_call(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(scenarios=Scenarios({"+15550000001": Outcome(talk=3000)}))
    call = emu.client.calls.create(
        to="+15550000001",
        from_="+15005550006",
        twiml=TWIML,
        status_callback=receiver.url("/cb/h"),
        status_callback_event=["answered", "completed"],
    )
    wait_until(lambda: receiver.for_call(call.sid), what="answered")
    assert emu.client.calls(call.sid).update(status="canceled").status == "in-progress"
    assert emu.client.calls(call.sid).update(status="completed").status == "completed"
    p = receiver.wait_terminal(call.sid).p
    assert p["CallStatus"] == "completed" and p["SequenceNumber"] == "1"
    assert p["SipResponseCode"] == "200"


def test_geographic_parameters(emu: Emu, receiver: Receiver) -> None:
    call = emu.client.calls.create(
        to="+447700900123",
        from_="+15005550006",
        twiml=TWIML,
        status_callback=receiver.url("/cb/geo"),
    )
    p = receiver.wait_terminal(call.sid).p
    assert (p["ToCountry"], p["CalledCountry"], p["FromCountry"], p["CallerCountry"]) == (
        "GB",
        "GB",
        "US",
        "US",
    )
    assert p["ToCity"] == "" and p["AccountSid"] == ACCOUNT_SID


def test_url_is_requested_signed_when_answered(emu: Emu, receiver: Receiver) -> None:
    receiver.twiml["/twiml"] = TWIML
    call = emu.client.calls.create(
        to="+15558675310",
        from_="+15005550006",
        url=receiver.url("/twiml?step=1"),
        method="GET",
        status_callback=receiver.url("/cb/u"),
    )
    receiver.wait_terminal(call.sid)
    [hit] = wait_until(lambda: receiver.at("/twiml"), what="TwiML request")
    assert hit.valid and hit.method == "GET" and hit.p["step"] == "1"
    assert (hit.p["CallStatus"], hit.p["Direction"], hit.p["CallSid"]) == (
        "in-progress",
        "outbound-api",
        call.sid,
    )
    assert "CallbackSource" not in hit.p
