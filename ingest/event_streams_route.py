"""``POST /twilio/events``: a Twilio Event Streams webhook-sink delivery, checked
(``ingest.event_streams``) and made durable through the same publisher and spool as the
status callbacks.

Each new event goes to ``twilio.events``; a voice call-progress event also goes to
``twilio.call-status`` as a callback envelope whose ``idempotency_token`` is the event's
``id``. The answer is 200 only once every record of the delivery is acknowledged by Kafka or
committed to the spool; otherwise 503 and Twilio delivers the batch again (at least once).

Twilio retries a delivery it got no 2xx for, and may deliver an event twice anyway: an
event whose ``id`` this process already made durable is answered 200 and not written
again. That memory is bounded and lost on restart, so a repeat can still reach the topics;
consumers identify events by ``id`` and the projector callbacks by (CallSid,
SequenceNumber), which makes such a repeat harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from starlette.responses import JSONResponse

from callstream import envelope, topics
from callstream.metrics import labelled_counter
from callstream.settings import Settings
from callstream.timefmt import now_iso
from callstream.web import error
from ingest.callback import CallbackError
from ingest.event_streams import MAX_EVENTS_BODY, Event, EventsSignature, is_json, parse_batch
from ingest.metrics import IngestMetrics
from ingest.publisher import Publisher, Rejected, Unavailable
from ingest.signature import SIGNATURE_HEADER, signed_url
from ingest.twilio_request import ClientGone, read_body

log = logging.getLogger("callstream.ingest")

PATH = "/twilio/events"
# ids remembered as durable (for answering a repeat without writing it again)
REMEMBERED_IDS = 100_000

DELIVERY_OUTCOMES = (
    "accepted",  # every event durable (or already known): 200
    "bad-signature",  # no or wrong signature, no or wrong bodySHA256: 403
    "wrong-account",
    "malformed",  # not a JSON array of CloudEvents: 400
    "too-large",
    "unsupported-media-type",
    "unavailable",  # neither Kafka nor the spool could take it: 503
    "unproducible",  # Kafka can never take one of its records
)
EVENT_OUTCOMES = ("call-progress", "other", "duplicate")
_DELIVERY_OUTCOME = {
    "missing-signature": "bad-signature",
    "bad-signature": "bad-signature",
    "missing-body-hash": "bad-signature",
    "bad-body-hash": "bad-signature",
    "wrong-account": "wrong-account",
    "too-large": "too-large",
    "unsupported-media-type": "unsupported-media-type",
}


class EventStreamsMetrics:
    def __init__(self, metrics: IngestMetrics) -> None:
        _, self.delivery = labelled_counter(
            "callstream_ingest_event_deliveries",
            "Event Streams deliveries (POST /twilio/events) by outcome",
            "outcome",
            DELIVERY_OUTCOMES,
            metrics.registry,
        )
        _, self.events = labelled_counter(
            "callstream_ingest_events",
            "CloudEvents in accepted deliveries, by kind (duplicate: id already durable)",
            "kind",
            EVENT_OUTCOMES,
            metrics.registry,
        )


class EventStreamsRoute:
    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        metrics: IngestMetrics,
        *,
        signers: Callable[[], Sequence[tuple[str, str]]],
        accepts: Callable[[str, str], bool],
        clock: Callable[[], str] = now_iso,
    ) -> None:
        """``signers()``: (AccountSid, auth token) for every token that may sign a delivery;
        ``accepts(signer, sid)``: whether a delivery signed by account ``signer`` may carry
        call-progress events of account ``sid`` (its own, or its subaccounts'); another
        account's events are refused (403), as a callback signed with another account's
        token is."""
        assert settings.public_base is not None
        self.public_base = settings.public_base
        self.signers = signers  # asked per delivery: the accounts served can change
        self.accepts = accepts
        self._signature: tuple[tuple[str, ...], EventsSignature] | None = None
        self.publisher = publisher
        self.metrics = EventStreamsMetrics(metrics)
        self.clock = clock
        self.events_topic = settings.topic(topics.TWILIO_EVENTS)
        self.status_topic = settings.topic(topics.CALL_STATUS)
        self._durable: OrderedDict[str, None] = OrderedDict()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            url, events = await self._read(scope, receive)
        except CallbackError as e:
            await self._reject(scope, receive, send, e)
            return
        except ClientGone:
            return
        fresh = self._fresh(events)
        try:
            await self._publish(url, fresh)
        except Rejected as e:
            p = e.problem
            self.metrics.delivery["unproducible"].inc()
            log.error(
                "event delivery refused: Kafka cannot take one of its records",
                extra={"reason": p.code, "status": p.status, "detail": p.message},
            )
            await error(p.status, p.code, p.message)(scope, receive, send)
            return
        except Unavailable as e:
            self.metrics.delivery["unavailable"].inc()
            log.error(
                "event delivery not accepted: neither kafka nor the spool can take it",
                extra={"reason": str(e), "status": 503, "events": len(fresh)},
            )
            await error(503, "unavailable", "the events could not be stored; retry later")(
                scope, receive, send
            )
            return
        for ev in fresh:
            self._remember(ev.id)
            self.metrics.events["call-progress" if ev.callback is not None else "other"].inc()
        duplicates = len(events) - len(fresh)
        self.metrics.events["duplicate"].inc(duplicates)
        self.metrics.delivery["accepted"].inc()
        body = {"accepted": len(fresh), "duplicates": duplicates}
        await JSONResponse(body)(scope, receive, send)

    async def _read(self, scope: dict[str, Any], receive: Any) -> tuple[str, list[Event]]:
        if scope["method"] != "POST":
            raise CallbackError(405, "method-not-allowed", "Event Streams deliveries are POSTs")
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type")
        if not is_json(content_type.decode("latin-1") if content_type else None):
            raise CallbackError(
                415, "unsupported-media-type", "send the events as application/json"
            )
        length = headers.get(b"content-length", b"")
        if length.isdigit() and (len(length) > 9 or int(length) > MAX_EVENTS_BODY):
            raise CallbackError(413, "too-large", f"the body is over {MAX_EVENTS_BODY} bytes")
        body = await read_body(receive, MAX_EVENTS_BODY)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        url = signed_url(
            self.public_base, raw_path.decode("latin-1"), scope["query_string"].decode("latin-1")
        )
        if sum(1 for n, _ in scope["headers"] if n == SIGNATURE_HEADER) > 1:
            raise CallbackError(
                403, "bad-signature", "the X-Twilio-Signature header is given more than once"
            )
        sig = headers.get(SIGNATURE_HEADER)
        signers = tuple(self.signers())
        which = self._checker(signers).check(url, body, sig.decode("latin-1") if sig else None)
        signer = signers[which][0]
        return url, parse_batch(body, lambda sid: self.accepts(signer, sid))

    def _checker(self, signers: tuple[tuple[str, str], ...]) -> EventsSignature:
        """The check for the current tokens (made again only when they changed)."""
        tokens = tuple(t for _, t in signers)
        if self._signature is None or self._signature[0] != tokens:
            self._signature = (tokens, EventsSignature(tokens))
        return self._signature[1]

    def _fresh(self, events: list[Event]) -> list[Event]:
        """The events not yet durable, each id once (a batch may repeat an id)."""
        seen: set[str] = set()
        out: list[Event] = []
        for ev in events:
            if ev.id in seen or ev.id in self._durable:
                continue
            seen.add(ev.id)
            out.append(ev)
        return out

    async def _publish(self, url: str, events: list[Event]) -> None:
        received_at = self.clock()
        jobs = []
        for ev in events:
            jobs.append(self.publisher.publish(ev.key.encode(), ev.value, topic=self.events_topic))
            if ev.callback is not None:
                value = envelope.encode(received_at, ev.method, url, ev.callback, ev.id)
                jobs.append(self.publisher.publish(ev.key.encode(), value, topic=self.status_topic))
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for r in results:  # a record Kafka can never take is the more useful answer
            if isinstance(r, Rejected):
                raise r
        for r in results:
            if isinstance(r, BaseException):
                raise r

    def _remember(self, event_id: str) -> None:
        self._durable[event_id] = None
        self._durable.move_to_end(event_id)
        while len(self._durable) > REMEMBERED_IDS:
            self._durable.popitem(last=False)

    async def _reject(
        self, scope: dict[str, Any], receive: Any, send: Any, e: CallbackError
    ) -> None:
        self.metrics.delivery[_DELIVERY_OUTCOME.get(e.code, "malformed")].inc()
        log.warning(
            "event delivery rejected",
            extra={
                "reason": e.code,
                "status": e.status,
                "path": scope.get("path"),
                "detail": e.message,
            },
        )
        resp = error(e.status, e.code, e.message)
        if e.status == 405:
            resp.headers["allow"] = "POST"
        await resp(scope, receive, send)
