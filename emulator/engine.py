"""The running emulator: the call store, the CPS queues, and legs moving through their
lifecycles. Async adapter around the pure pieces (:mod:`cpsqueue`, :mod:`lifecycle`,
:mod:`callbackparams`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from emulator import delivery, lifecycle, twiml
from emulator.accounts import AccountBook
from emulator.callbackparams import standard_params, status_callback_params
from emulator.callbacks import CallbackSender
from emulator.calls import Call
from emulator.clock import LegClock
from emulator.config import EmulatorConfig
from emulator.cpsqueue import CpsQueue
from emulator.createparams import CreateRequest
from emulator.event_sink import EventSink
from emulator.faults import Faults
from emulator.lifecycle import Step
from emulator.metrics import Metrics
from emulator.overrides import split_url
from emulator.signing import build_request

log = logging.getLogger("callstream.emulator")


@dataclass
class Leg:
    """A call leg that left the queue and is running through its steps."""

    call: Call
    steps: list[Step]
    clock: LegClock
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    siblings: list[Leg] = field(default_factory=list)  # other <Number>s of the same <Dial>
    children: list[Leg] = field(default_factory=list)  # legs this one dialed
    finished: bool = False


class Engine:
    def __init__(self, config: EmulatorConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.calls: dict[str, Call] = {}
        self.order: list[Call] = []
        self.requests: list[dict[str, Any]] = []
        self.twiml_requests: list[dict[str, Any]] = []
        self._request_of: dict[str, dict[str, Any]] = {}
        self._creates: dict[str, CreateRequest] = {}
        self.accounts = AccountBook(config.accounts, time.time())
        self.queues = {sid: CpsQueue(config.cps) for sid in config.accounts}
        self.faults = Faults(config.faults, config.seed)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.callbacks = CallbackSender(config.chaos, config.seed, self.tasks, metrics.callbacks)
        self.event_sink = (
            EventSink(config.event_sink, config.speed, config.seed) if config.event_sink else None
        )
        self.legs: dict[str, Leg] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._sid_rng = random.Random(f"sids:{config.seed}") if config.seed is not None else None
        self.started = False

    # -- lifecycle of the engine itself --------------------------------------------------
    async def start(self) -> None:
        self.client = httpx.AsyncClient(trust_env=False, follow_redirects=True, max_redirects=10)
        self.callbacks.client = self.client
        if self.event_sink is not None:
            self.event_sink.client = self.client
            self.spawn(self.event_sink.run())
        for account in self.queues:
            self._wake[account] = asyncio.Event()
            self.spawn(self._dispatch(account))
        self.started = True

    async def stop(self) -> None:
        self.started = False
        for t in list(self.tasks):
            t.cancel()
        for leg in self.legs.values():
            if leg.task is not None:
                leg.task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.event_sink is not None:
            await self.event_sink.stop()
        await self.client.aclose()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def new_sid(self, prefix: str = "CA") -> str:
        if self._sid_rng is not None:
            return prefix + f"{self._sid_rng.getrandbits(128):032x}"
        return prefix + uuid.uuid4().hex

    def token_for(self, account_sid: str) -> str:
        return self.accounts.token_for(account_sid)

    def add_account_queue(self, account_sid: str) -> None:
        """A new subaccount's own CPS queue, dispatched like the others."""
        self.queues[account_sid] = CpsQueue(self.config.cps)
        self._wake[account_sid] = asyncio.Event()
        self.spawn(self._dispatch(account_sid))

    def add_call(self, call: Call) -> None:
        self.calls[call.sid] = call
        self.order.append(call)
        self.metrics.calls.labels(call.direction).inc()

    # -- outbound-api calls --------------------------------------------------------------
    def record_request(
        self, account_sid: str, received_at: float, params: Sequence[tuple[str, str]]
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "account_sid": account_sid,
            "received_at": received_at,
            "call_sid": None,
            "params": [[k, v] for k, v in params],
            "response_status": None,
            "left_queue_at": None,
        }
        self.requests.append(entry)
        return entry

    def create_outbound(self, account_sid: str, req: CreateRequest, entry: dict[str, Any]) -> Call:
        now = time.time()
        call = Call(
            sid=self.new_sid(),
            account_sid=account_sid,
            to=req.to,
            from_=req.from_,
            direction="outbound-api",
            date_created=now,
            date_updated=now,
            status_callback=req.status_callback,
            status_callback_method=req.status_callback_method,
            events=req.events,
            url=req.url,
            url_method=req.method,
        )
        wait = self.queues[account_sid].enqueue(call.sid, now)
        call.queue_time_ms = round(wait * 1000)
        self.add_call(call)
        self._creates[call.sid] = req
        entry["call_sid"] = call.sid
        self._request_of[call.sid] = entry
        self._wake[account_sid].set()
        return call

    async def _dispatch(self, account_sid: str) -> None:
        """Release calls from the account's queue at its rate and start them."""
        queue, wake = self.queues[account_sid], self._wake[account_sid]
        while True:
            now = time.time()
            due = queue.next_due(now)
            if due is None or now < due:
                wake.clear()
                timeout = None if due is None else max(due - now, 0.001)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)
                continue
            sid = queue.release(now)
            call = self.calls[sid]
            call.left_queue_at = now
            if sid in self._request_of:
                self._request_of[sid]["left_queue_at"] = now
            req = self._creates.pop(sid)
            outcome = self.config.scenarios.outcome_for(call.to)
            steps = lifecycle.plan(outcome, req.timeout, req.time_limit, req.machine_detection)
            log.info(
                "call left queue",
                extra={"call_sid": sid, "account_sid": account_sid, "outcome": outcome.outcome},
            )
            self.start_leg(call, steps, LegClock(self.config.speed, now))

    # -- running legs ----------------------------------------------------------------------
    def start_leg(self, call: Call, steps: list[Step], clock: LegClock) -> Leg:
        leg = Leg(call, steps, clock)
        self.legs[call.sid] = leg
        leg.task = self.spawn(self.run_leg(leg))
        return leg

    async def run_leg(self, leg: Leg) -> None:
        for step in leg.steps:
            await leg.clock.sleep_until(step.at)
            if leg.finished:
                return
            self.apply(leg, step)

    def apply(self, leg: Leg, step: Step) -> None:
        """Move ``leg`` to ``step``: REST state, then the callback if subscribed."""
        call = leg.call
        when = leg.clock.wall_at(step.at)
        call.status = step.rest_status
        call.date_updated = when  # the simulated clock, like start_time and end_time
        if step.event == "initiated":
            call.start_time = when
        if step.answered_by is not None:
            call.answered_by = step.answered_by
        if step.terminal:
            call.end_time = when
            call.duration = step.call_duration if step.status == "completed" else None
            leg.finished = True
        if call.status_callback and step.event in call.events:
            seq = call.next_sequence()
            params = status_callback_params(call, step, seq, when)
            self.callbacks.send(
                call.sid,
                seq,
                url=call.status_callback,
                method=call.status_callback_method,
                params=params,
                auth_token=self.token_for(call.account_sid),
            )
            if self.event_sink is not None:  # mirrored whatever the callback's chaos does
                self.event_sink.mirror(
                    params,
                    callback_url=call.status_callback,
                    method=call.status_callback_method,
                    when=when,
                    auth_token=self.token_for(call.account_sid),
                )
        if step.event == "answered" and call.direction == "outbound-api" and call.url:
            self.spawn(self._request_twiml(call, step.answered_by))
        if step.event == "answered":
            for sib in leg.siblings:
                self.hangup_leg(sib, "canceled")
        if step.terminal:
            for child in leg.children:
                self.hangup_leg(child, "completed")
            leg.done.set()

    async def _request_twiml(
        self, call: Call, answered_by: str | None, redirect: bool = False
    ) -> None:
        """Request the call's ``Url`` when it is answered, signed, as Twilio does. The
        TwiML is checked for being well-formed but not followed (see docs/emulator.md)."""
        assert call.url is not None
        bare, ov = split_url(call.url)
        params = standard_params(call, "in-progress")
        if answered_by is not None:
            params["AnsweredBy"] = answered_by
        req = build_request(
            call.url_method, bare, params, self.token_for(call.account_sid), uuid.uuid4().hex
        )
        result = await delivery.send(self.client, req, ov)
        self.twiml_requests.append(
            {
                "call_sid": call.sid,
                "url": req.url,
                "method": req.method,
                "result": result.result,
                "twiml": result.body if result.ok else None,
                "redirect": redirect,
            }
        )
        problem = None if result.ok else result.result
        if result.ok:
            try:
                twiml.parse(result.body)
            except twiml.TwimlError as e:
                problem = f"bad TwiML: {e}"
        if problem:
            log.warning(
                "TwiML request failed",
                extra={"call_sid": call.sid, "url": req.url, "problem": problem},
            )

    def hangup_leg(self, leg: Leg, requested: str) -> bool:
        """Apply a REST hang-up to a running leg; False when it does not apply."""
        if leg.finished:
            return False
        step = lifecycle.hangup(leg.steps, leg.clock.elapsed(), requested)
        if step is None:
            return False
        if leg.task is not None and leg.task is not asyncio.current_task():
            leg.task.cancel()
        self.apply(leg, step)
        return True

    # -- REST update -------------------------------------------------------------------
    def update_status(self, call: Call, requested: str) -> None:
        """``Status=canceled`` or ``Status=completed`` on ``POST .../Calls/{Sid}.json``."""
        if call.ended:
            return
        queue = self.queues.get(call.account_sid)
        if call.status == "queued" and queue is not None and queue.cancel(call.sid):
            now = time.time()
            call.status = "canceled"
            call.end_time = now
            call.date_updated = now
            self._creates.pop(call.sid, None)
            log.info("call canceled while queued", extra={"call_sid": call.sid})
            return
        leg = self.legs.get(call.sid)
        if leg is not None:
            self.hangup_leg(leg, requested)

    def redirect(self, call: Call, url: str | None, method: str, inline: str | None) -> None:
        """``Url``/``Twiml`` on ``POST .../Calls/{Sid}.json``: a live call's instructions
        are replaced. An answered call fetches the new ``Url`` at once (signed, as on
        answer); a queued or ringing one uses it when answered. Inline TwiML was checked by
        the route; like any TwiML here it is recorded, not followed (docs/emulator.md)."""
        call.url, call.url_method = url, method
        req = self._creates.get(call.sid)
        if req is not None:  # still queued: the create's instructions are replaced too
            self._creates[call.sid] = dataclasses.replace(req, url=url, method=method, twiml=inline)
        log.info(
            "call redirected",
            extra={"call_sid": call.sid, "url": url, "inline": inline is not None},
        )
        if call.status != "in-progress":
            return
        if url is not None:
            self.spawn(self._request_twiml(call, call.answered_by, redirect=True))
        else:
            self.twiml_requests.append(
                {
                    "call_sid": call.sid,
                    "url": None,
                    "method": None,
                    "result": "inline",
                    "twiml": inline,
                    "redirect": True,
                }
            )

    def queue_depth(self) -> int:
        return sum(len(q) for q in self.queues.values())
