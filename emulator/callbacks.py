"""Status callbacks leaving the emulator: signing, chaos, ordering and the delivery log.

Without chaos a leg's callbacks are delivered one after another in ``SequenceNumber``
order (each waits for the previous one to be answered or given up). With ``reorder``
each is delivered independently after a random delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from prometheus_client import Counter

from emulator import delivery
from emulator.chaos import Chaos, plan_delivery
from emulator.overrides import split_url
from emulator.signing import build_request

log = logging.getLogger("callstream.emulator.callbacks")


class CallbackSender:
    def __init__(
        self, chaos: Chaos, seed: int | None, tasks: set[asyncio.Task[Any]], counter: Counter
    ) -> None:
        self.chaos = chaos
        self.seed = seed
        self.client: httpx.AsyncClient | None = None
        self.log: list[dict[str, Any]] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks = tasks
        self._counter = counter

    def send(
        self,
        call_sid: str,
        sequence: int,
        *,
        url: str,
        method: str,
        params: Mapping[str, str],
        auth_token: str,
    ) -> None:
        """Fire a callback; returns at once (Twilio does not wait on status callbacks)."""
        bare, ov = split_url(url)
        req = build_request(method, bare, params, auth_token, uuid.uuid4().hex)
        plan = plan_delivery(self.chaos, self.seed, call_sid, sequence)
        entry: dict[str, Any] = {
            "call_sid": call_sid,
            "sequence_number": sequence,
            "call_status": params.get("CallStatus"),
            "url": req.url,
            "method": method,
            "fired_at": time.time(),
            "copies": plan.copies,
            "results": [],
            "attempts": [],
            "outcome": "dropped" if plan.copies == 0 else "pending",
        }
        self.log.append(entry)
        if plan.copies == 0:
            self._counter.labels("dropped").inc()
            log.info("callback dropped (chaos)", extra={"call_sid": call_sid, "seq": sequence})
            return
        lock = None if self.chaos.reorder else self._locks.setdefault(call_sid, asyncio.Lock())

        async def one(delay: float) -> None:
            if delay:
                await asyncio.sleep(delay)
            assert self.client is not None
            result = await delivery.send(self.client, req, ov, self.chaos, plan.rng)
            entry["results"].append(result.result)
            entry["attempts"].append(result.attempts)
            self._counter.labels(result.result).inc()
            if not result.ok:
                log.warning(
                    "callback not delivered",
                    extra={
                        "call_sid": call_sid,
                        "seq": sequence,
                        "url": req.url,
                        "result": result.result,
                        "attempts": result.attempts,
                    },
                )

        async def run() -> None:
            if lock is None:
                await asyncio.gather(*(one(d) for d in plan.delays))
            else:
                async with lock:
                    for d in plan.delays:
                        await one(d)
            results = entry["results"]
            entry["outcome"] = "delivered" if "delivered" in results else results[-1]

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def pending(self) -> int:
        return sum(1 for e in self.log if e["outcome"] == "pending")
