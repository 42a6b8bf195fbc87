"""Simulated inbound calls: fetch the number's TwiML as Twilio would, follow it, dial the
``<Dial><Number>`` and ``<Dial><Client>`` children, and end the parent leg with its
``completed`` callback.

The inbound parent leg sends only the end-of-call callback (numbers have no event list);
child legs (``outbound-dial``) send what their noun's ``statusCallbackEvent`` asked for.

A call from a Voice SDK client (``from_`` is ``client:NAME``) is a call to the account's
TwiML application: the voice URL gets ``ApplicationSid``, an empty ``Called``, the ``To``
the client chose (any string: it is the client's input) and the client's own parameters.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from emulator import delivery, lifecycle, twiml
from emulator.callbackparams import standard_params
from emulator.calls import Call
from emulator.clock import LegClock
from emulator.engine import Engine, Leg
from emulator.lifecycle import Step
from emulator.overrides import split_url
from emulator.signing import build_request

log = logging.getLogger("callstream.emulator.inbound")


def start_inbound(
    engine: Engine,
    account_sid: str,
    *,
    from_: str,
    to: str,
    voice_url: str,
    status_callback: str | None,
    status_callback_method: str = "POST",
    app_params: dict[str, str] | None = None,
) -> Call:
    """``app_params``: for a call from a client, ``ApplicationSid`` and the client's own
    parameters, added to the voice URL request."""
    now = time.time()
    call = Call(
        sid=engine.new_sid(),
        account_sid=account_sid,
        to=to,
        from_=from_,
        direction="inbound",
        date_created=now,
        date_updated=now,
        status="ringing",
        start_time=now,
        status_callback=status_callback,
        status_callback_method=status_callback_method,
        events=frozenset({"completed"}),
    )
    engine.add_call(call)
    # An inbound leg is "answered" as soon as its TwiML runs; a REST hang-up completes it.
    leg = Leg(call, [Step(0.0, "answered", "in-progress")], LegClock(engine.config.speed, now))
    engine.legs[call.sid] = leg
    leg.task = engine.spawn(_run(engine, leg, voice_url, app_params))
    return call


def voice_params(call: Call, app_params: dict[str, str] | None) -> dict[str, str]:
    params = standard_params(call, "ringing")
    if app_params is not None:
        # a client dials no number of the account: Called is empty, without geography
        params = {k: v for k, v in params.items() if not k.startswith("Called")}
        params["Called"] = ""
        params.update(app_params)
    return params


async def fetch_twiml(
    engine: Engine, call: Call, voice_url: str, app_params: dict[str, str] | None = None
) -> list[twiml.Verb]:
    bare, ov = split_url(voice_url)
    params = voice_params(call, app_params)
    req = build_request("POST", bare, params, engine.token_for(call.account_sid), uuid.uuid4().hex)
    result = await delivery.send(engine.client, req, ov)
    engine.twiml_requests.append(
        {
            "call_sid": call.sid,
            "url": req.url,
            "method": req.method,
            "result": result.result,
            "twiml": result.body if result.ok else None,
        }
    )
    if not result.ok:
        log.warning(
            "voice URL failed", extra={"call_sid": call.sid, "url": bare, "result": result.result}
        )
        return []
    try:
        return twiml.parse(result.body)
    except twiml.TwimlError as e:
        log.warning("TwiML not followed", extra={"call_sid": call.sid, "error": str(e)})
        return []


async def _run(engine: Engine, leg: Leg, voice_url: str, app_params: dict[str, str] | None) -> None:
    verbs = await fetch_twiml(engine, leg.call, voice_url, app_params)
    if leg.finished:
        return
    engine.apply(leg, leg.steps[0])
    cursor = leg.clock.elapsed()
    for verb in verbs:
        if isinstance(verb, twiml.Hangup):
            break
        if isinstance(verb, twiml.Say | twiml.Pause):
            cursor += twiml.say_seconds(verb) if isinstance(verb, twiml.Say) else verb.length
            await leg.clock.sleep_until(cursor)
        elif isinstance(verb, twiml.Dial):
            await _dial(engine, leg, verb)
            cursor = leg.clock.elapsed()
        else:
            log.info("TwiML verb not emulated, skipped", extra={"verb": verb.name})
        if leg.finished:
            return
    elapsed = max(cursor, leg.clock.elapsed())
    engine.apply(leg, Step(elapsed, "completed", "completed", round(elapsed), lifecycle.SIP_OK))


async def _dial(engine: Engine, parent: Leg, dial: twiml.Dial) -> None:
    """Ring every ``<Number>`` and ``<Client>`` at once; the first to answer cancels the
    others. ``callerId`` is the children's ``From`` (default: the caller's)."""
    clock = parent.clock.child()
    legs: list[Leg] = []
    for number in dial.numbers:
        if number.ignored_events:
            log.warning(
                "unknown statusCallbackEvent names ignored",
                extra={"names": list(number.ignored_events)},
            )
        child = Call(
            sid=engine.new_sid(),
            account_sid=parent.call.account_sid,
            to=number.number,
            from_=dial.caller_id or parent.call.from_,
            direction="outbound-dial",
            date_created=time.time(),
            parent_call_sid=parent.call.sid,
            status_callback=number.status_callback,
            status_callback_method=number.method,
            events=number.events,
        )
        engine.add_call(child)
        outcome = engine.config.scenarios.outcome_for(number.number)
        steps = lifecycle.plan(outcome, dial.timeout, dial.time_limit)
        legs.append(Leg(child, steps, clock))
    for leg in legs:
        leg.siblings = [o for o in legs if o is not leg]
        engine.legs[leg.call.sid] = leg
    parent.children.extend(legs)
    for leg in legs:
        leg.task = engine.spawn(engine.run_leg(leg))
    await asyncio.gather(*(leg.done.wait() for leg in legs))
