"""``POST /twilio/status`` (form) and ``GET /twilio/status`` (query): one status callback
into one envelope on ``twilio.call-status``, keyed by CallSid.

A plain ASGI callable rather than a Starlette endpoint: this is the hot path, and it needs
nothing of Request/Response but the raw body and headers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from callstream import envelope
from callstream.timefmt import now_iso
from callstream.web import error
from ingest.callback import CallbackError
from ingest.metrics import IngestMetrics
from ingest.publisher import Publisher, Rejected, Unavailable
from ingest.twilio_request import ClientGone, TwilioRequestReader

log = logging.getLogger("callstream.ingest")

_NO_CONTENT = {"type": "http.response.start", "status": 204, "headers": []}
_EMPTY = {"type": "http.response.body", "body": b""}

# error code of a rejected request -> metrics outcome
_OUTCOME = {
    "missing-signature": "bad-signature",
    "bad-signature": "bad-signature",
    "wrong-account": "wrong-account",
    "too-large": "too-large",
    "unsupported-media-type": "unsupported-media-type",
    "method-not-allowed": "malformed",
}


class StatusCallbackRoute:
    def __init__(
        self,
        reader: TwilioRequestReader,
        publisher: Publisher,
        metrics: IngestMetrics,
        clock: Callable[[], str] = now_iso,
    ) -> None:
        self.reader = reader
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock  # the envelope's received_at (callstream.timefmt form)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] not in ("GET", "POST"):  # HEAD too: only what the docs name
            e = CallbackError(405, "method-not-allowed", "use POST (or GET) for status callbacks")
            await reject(scope, receive, send, e, self.metrics, headers={"allow": "GET, POST"})
            return
        try:
            req = await self.reader.read(scope, receive)
        except CallbackError as e:
            await reject(scope, receive, send, e, self.metrics)
            return
        except ClientGone:
            return
        value = envelope.encode(
            self.clock(), req.method, req.url, req.params, req.idempotency_token
        )
        try:
            outcome = await self.publisher.publish(req.identity.call_sid.encode(), value)
        except Rejected as e:
            # about this record, not about Kafka: never spooled (it would block the drain)
            self.metrics.outcome["unproducible"].inc()
            p = e.problem
            log.error(
                "callback refused: Kafka cannot take this record",
                extra={
                    "reason": p.code,
                    "status": p.status,
                    "call_sid": req.identity.call_sid,
                    "bytes": len(value),
                    "detail": p.message,
                },
            )
            await error(p.status, p.code, p.message)(scope, receive, send)
            return
        except Unavailable as e:
            self.metrics.outcome["unavailable"].inc()
            log.error(
                "callback not accepted: neither kafka nor the spool can take it",
                extra={"reason": str(e), "status": 503, "call_sid": req.identity.call_sid},
            )
            await error(503, "unavailable", "the callback could not be stored; retry later")(
                scope, receive, send
            )
            return
        self.metrics.outcome[outcome].inc()
        await send(_NO_CONTENT)
        await send(_EMPTY)


async def reject(
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    e: CallbackError,
    metrics: IngestMetrics,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    metrics.outcome[_OUTCOME.get(e.code, "malformed")].inc()
    log.warning(
        "rejected",
        extra={
            "reason": e.code,
            "status": e.status,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "detail": e.message,
        },
    )
    resp = error(e.status, e.code, e.message)
    resp.headers.update(headers or {})
    await resp(scope, receive, send)
