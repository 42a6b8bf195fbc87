"""Event Streams: the emulator mirrors each call-progress status callback as a CloudEvent to a
webhook sink (``--event-sink URL``), as Twilio's Event Streams does for a subscription to
the ``com.twilio.voice.status-callback.call.*`` types.

Like Twilio's, delivery is at least once: a batch that is not answered 2xx (refused
connection, timeout, any other status) is sent again after an exponential backoff with
jitter, for up to four hours of the emulator's simulated time (``speed`` compresses the
waits, as it does ringing and talking). The mirror is taken before the status callback's
own chaos, so an event whose callback ``--chaos-drop`` lost still reaches the sink.

Chaos of its own (:class:`SinkChaos`): lose the first attempt of each batch, deliver a
batch twice, shuffle the events before batching, and the batch size.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from emulator.signing import USER_AGENT

log = logging.getLogger("callstream.emulator.event_sink")

TYPE_PREFIX = "com.twilio.voice.status-callback.call."
DATASCHEMA = "https://events-schemas.twilio.com/Voice.WebhookEvent/2"
# CallStatus of a callback -> the event type's last word (no 'answered' status exists)
EVENT_OF_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
GIVE_UP_S = 4 * 3600.0  # Twilio retries a delivery for up to 4 hours
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 300.0
RESPONSE_TIMEOUT_S = 5.0  # Twilio waits at most 5 s for a sink's answer
LINGER_S = 0.02  # real seconds to gather events into one batch


@dataclass(frozen=True)
class SinkChaos:
    """All off by default. ``lose_first``: the first attempt of every batch is lost (no
    request reaches the sink) and the retry delivers it. ``duplicate``: chance a delivered
    batch is delivered once more. ``reorder``: events waiting to be sent are shuffled
    before they are cut into batches. ``batch_size``: most events in one delivery."""

    lose_first: bool = False
    duplicate: float = 0.0
    reorder: bool = False
    batch_size: int = 10

    def __post_init__(self) -> None:
        if not 0.0 <= self.duplicate <= 1.0:
            raise ValueError("event sink duplicate must be a probability between 0 and 1")
        if self.batch_size < 1:
            raise ValueError("event sink batch size must be at least 1")


@dataclass(frozen=True)
class SinkConfig:
    url: str
    chaos: SinkChaos = field(default_factory=SinkChaos)
    give_up_s: float = GIVE_UP_S  # simulated seconds


def iso(ts: float) -> str:
    """CloudEvents ``time`` (RFC 3339, UTC, milliseconds)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cloud_event(
    event_id: str,
    params: Mapping[str, str],
    *,
    callback_url: str,
    method: str,
    when: float,
) -> dict[str, Any]:
    """The CloudEvent Twilio documents for a voice status callback (``data.request``
    holds the callback as sent: its method, URL and form parameters)."""
    status = params.get("CallStatus", "")
    call_sid = params.get("CallSid", "")
    account = params.get("AccountSid", "")
    return {
        "specversion": "1.0",
        "type": TYPE_PREFIX + EVENT_OF_STATUS.get(status, "completed"),
        "source": f"/2010-04-01/Accounts/{account}/Calls/{call_sid}.json",
        "id": event_id,
        "dataschema": DATASCHEMA,
        "datacontenttype": "application/json",
        "time": iso(when),
        "data": {
            "sid": call_sid,
            "eventSid": event_id,
            "timestamp": iso(when),
            "requestDateCreated": iso(when),
            "request": {"method": method, "url": callback_url, "parameters": dict(params)},
        },
    }


def sign_json(url: str, body: bytes, auth_token: str) -> tuple[str, dict[str, str]]:
    """The URL with ``bodySHA256`` added, and the headers, as Twilio signs a JSON webhook:
    HMAC-SHA1 over that URL alone, no parameters appended."""
    sep = "&" if "?" in url else "?"
    full = f"{url}{sep}bodySHA256={hashlib.sha256(body).hexdigest()}"
    sig = RequestValidator(auth_token).compute_signature(full, {})
    return full, {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Twilio-Signature": str(sig),
    }


def backoff(attempt: int, rng: random.Random) -> float:
    """Simulated seconds to wait after failed attempt number ``attempt`` (1-based):
    exponential with full jitter, capped."""
    return rng.uniform(0.5, 1.0) * min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2.0 ** (attempt - 1))


@dataclass
class _Pending:
    event: dict[str, Any]
    auth_token: str


class EventSink:
    """Queues mirrored events and delivers them in batches (one batch per account)."""

    def __init__(self, config: SinkConfig, speed: float, seed: int | None) -> None:
        self.config = config
        self.speed = speed
        self.rng = random.Random(f"sink:{seed}") if seed is not None else random.Random()
        self.client: httpx.AsyncClient | None = None
        self.log: list[dict[str, Any]] = []  # one entry per batch (GET /emulator/events)
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    def mirror(
        self,
        params: Mapping[str, str],
        *,
        callback_url: str,
        method: str,
        when: float,
        auth_token: str,
    ) -> None:
        event_id = "EZ" + f"{self.rng.getrandbits(128):032x}"
        event = cloud_event(event_id, params, callback_url=callback_url, method=method, when=when)
        self._queue.append(_Pending(event, auth_token))
        self._wake.set()

    def pending(self) -> int:
        return len(self._queue) + sum(1 for e in self.log if e["outcome"] == "pending")

    async def run(self) -> None:
        """Cut the queue into batches and start each one's delivery; until cancelled."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(LINGER_S)
            self._wake.clear()
            queue, self._queue = self._queue, []
            if self.config.chaos.reorder:
                self.rng.shuffle(queue)
            by_token: dict[str, list[dict[str, Any]]] = {}
            for p in queue:
                by_token.setdefault(p.auth_token, []).append(p.event)
            size = self.config.chaos.batch_size
            for token, events in by_token.items():
                for i in range(0, len(events), size):
                    self._start(events[i : i + size], token)

    def _start(self, events: list[dict[str, Any]], token: str) -> None:
        entry: dict[str, Any] = {
            "ids": [e["id"] for e in events],
            "call_sids": [e["data"]["sid"] for e in events],
            "attempts": 0,
            "results": [],
            "deliveries": 0,
            "outcome": "pending",
            "first_at": time.time(),
        }
        self.log.append(entry)
        task = asyncio.get_running_loop().create_task(self._deliver(events, token, entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, events: list[dict[str, Any]], token: str, entry: dict[str, Any]
    ) -> None:
        body = json.dumps(events, separators=(",", ":")).encode("utf-8")
        url, headers = sign_json(self.config.url, body, token)
        chaos = self.config.chaos
        waited = 0.0  # simulated seconds
        while True:
            entry["attempts"] += 1
            if chaos.lose_first and entry["attempts"] == 1:
                result = "lost (chaos)"
            else:
                result = await self._post(url, body, headers)
            entry["results"].append(result)
            if result == "delivered":
                entry["deliveries"] += 1
                if chaos.duplicate and self.rng.random() < chaos.duplicate:
                    entry["results"].append(await self._post(url, body, headers))
                    entry["deliveries"] += 1
                entry["outcome"] = "delivered"
                return
            wait = backoff(entry["attempts"], self.rng)
            if waited + wait > self.config.give_up_s:
                entry["outcome"] = "given-up"
                log.warning(
                    "event batch given up after retrying",
                    extra={"events": len(events), "attempts": entry["attempts"], "last": result},
                )
                return
            waited += wait
            await asyncio.sleep(wait / self.speed)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str:
        assert self.client is not None
        try:
            resp = await self.client.post(
                url, content=body, headers=headers, timeout=RESPONSE_TIMEOUT_S
            )
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError:
            return "connect-failed"
        return "delivered" if 200 <= resp.status_code < 300 else f"http-{resp.status_code}"

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
