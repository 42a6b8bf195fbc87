"""Issue 12's fidelity gaps, checked through twilio-python's Client: updating a call
(redirect, cancel, complete, 21220 once ended), 21208/21209, the display form of numbers,
date_updated on the simulated clock, and GET agreeing with the callbacks whatever chaos
drops."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest
from twilio.base.exceptions import TwilioRestException

from emulator.calls import display_form
from emulator.chaos import Chaos
from emulator.scenarios import Outcome, Scenarios
from tests.emulator.conftest import FROM, TWIML, Emu
from tests.emulator.receiver import Receiver
from tests.helpers import wait_until

LONG = "+15550009000"  # rings 1 s, talks 600 s (simulated)
RINGS = "+15550009001"  # rings 600 s
SCENARIOS = Scenarios(
    numbers={LONG: Outcome("answered", ring=1.0, talk=600.0), RINGS: Outcome(ring=600.0)}
)
ALL = ["initiated", "ringing", "answered", "completed"]


def _status(emu: Emu, sid: str) -> str:
    return str(emu.client.calls(sid).fetch().status)


def _create(emu: Emu, receiver: Receiver, to: str, **kw: object) -> str:
    call = emu.client.calls.create(
        to=to,
        from_=FROM,
        twiml=TWIML,
        status_callback=receiver.url("/status"),
        status_callback_event=ALL,
        **kw,
    )
    return str(call.sid)


def test_completing_a_live_call_ends_it_and_its_callback_follows(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(speed=2.0, scenarios=SCENARIOS)
    sid = _create(emu, receiver, LONG)
    wait_until(lambda: _status(emu, sid) == "in-progress", timeout=20, what="answered")
    updated = emu.client.calls(sid).update(status="completed")
    assert updated.status == "completed" and updated.end_time is not None
    hit = receiver.wait_terminal(sid)
    assert hit.valid and hit.p["CallStatus"] == "completed"
    with pytest.raises(TwilioRestException) as e:
        emu.client.calls(sid).update(status="completed")
    assert (e.value.status, e.value.code) == (400, 21220)
    with pytest.raises(TwilioRestException) as e:
        emu.client.calls(sid).update(url=receiver.url("/next"))
    assert e.value.code == 21220
    # changing where callbacks go is still allowed on an ended call
    assert emu.client.calls(sid).update(status_callback=receiver.url("/s2")).sid == sid


def test_canceling_a_ringing_call_and_canceling_an_answered_one(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(speed=2.0, scenarios=SCENARIOS)
    ringing, live = _create(emu, receiver, RINGS), _create(emu, receiver, LONG)
    wait_until(lambda: _status(emu, ringing) == "ringing", timeout=20, what="ringing")
    assert emu.client.calls(ringing).update(status="canceled").status == "canceled"
    assert receiver.wait_terminal(ringing).p["CallStatus"] == "canceled"
    wait_until(lambda: _status(emu, live) == "in-progress", timeout=20, what="answered")
    # Twilio: canceled only hangs up queued or ringing calls
    assert emu.client.calls(live).update(status="canceled").status == "in-progress"
    emu.client.calls(live).update(status="completed")


def test_redirecting_a_live_call_fetches_the_new_url_signed(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(speed=2.0, scenarios=SCENARIOS)
    receiver.twiml["/next"] = "<Response><Say>moved</Say></Response>"
    sid = _create(emu, receiver, LONG)
    wait_until(lambda: _status(emu, sid) == "in-progress", timeout=20, what="answered")
    emu.client.calls(sid).update(url=receiver.url("/next"), method="GET")
    hit = receiver.wait(lambda: receiver.at("/next"), what="the redirect's TwiML request")[0]
    assert hit.valid and hit.method == "GET" and hit.p["CallSid"] == sid
    emu.client.calls(sid).update(twiml="<Response><Hangup/></Response>")
    with pytest.raises(TwilioRestException) as e:
        emu.client.calls(sid).update(twiml="<Response><Say>")
    assert e.value.status == 400
    with pytest.raises(TwilioRestException) as e:
        emu.client.calls(sid).update(url=receiver.url("/x"), method="PUT")
    assert e.value.code == 21209
    emu.client.calls(sid).update(status="completed")
    requests = [r for r in emu.twiml_requests() if r["call_sid"] == sid and r["redirect"]]
    assert [r["result"] for r in requests] == ["delivered", "inline"]


def test_canceling_a_queued_call_sends_no_callback(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(cps=0.2, speed=2.0, scenarios=SCENARIOS)
    _create(emu, receiver, RINGS)
    queued = _create(emu, receiver, RINGS)
    assert _status(emu, queued) == "queued"
    assert emu.client.calls(queued).update(status="canceled").status == "canceled"
    assert receiver.for_call(queued) == []


@pytest.mark.parametrize(
    ("kw", "code"),
    [({"timeout": 0}, 21208), ({"timeout": "soon"}, 21208), ({"method": "PUT"}, 21209)],
)
def test_bad_timeout_and_method_have_twilios_codes(
    emu: Emu, kw: dict[str, object], code: int
) -> None:
    kw = {"url": "https://example.com/twiml", **kw}
    with pytest.raises(TwilioRestException) as e:
        emu.client.calls.create(to="+15558675310", from_=FROM, **kw)
    assert (e.value.status, e.value.code) == (400, code)


def test_formatted_numbers_and_date_updated_on_the_simulated_clock(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(speed=100.0)
    sid = _create(emu, receiver, "+14155550100")
    receiver.wait_terminal(sid)
    call = emu.client.calls(sid).fetch()
    assert (call.to_formatted, call.from_formatted) == ("(415) 555-0100", "(500) 555-0006")
    assert call.date_updated == call.end_time  # the last change is the end, simulated
    assert call.end_time > call.start_time
    assert display_form("+442071838750") == "+442071838750"
    assert display_form("client:alice") == "client:alice"


def test_get_agrees_with_what_the_callbacks_said_whatever_chaos_drops(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(cps=50.0, speed=50.0, chaos=Chaos(drop=0.5), seed=3)
    sids = [_create(emu, receiver, "+15558675310") for _ in range(12)]
    ended = {"completed", "busy", "failed", "no-answer", "canceled"}

    def over() -> bool:  # every call ended, then every callback it fired settled
        return all(emu.client.calls(s).fetch().status in ended for s in sids) and emu.settled()

    wait_until(over, timeout=60, what="calls ended and their callbacks settled")
    log = emu.callbacks()
    assert {e["outcome"] for e in log} >= {"dropped", "delivered"}
    for sid in sids:
        said = [e for e in log if e["call_sid"] == sid]
        last = max(said, key=lambda e: e["sequence_number"])
        call = emu.client.calls(sid).fetch()
        assert call.status == last["call_status"], sid
        delivered = [h for h in receiver.for_call(sid) if h.p["CallStatus"] == "completed"]
        for h in delivered:  # a delivered terminal callback agrees field by field
            assert h.p["CallDuration"] == call.duration
            assert parsedate_to_datetime(h.p["Timestamp"]) == call.end_time
