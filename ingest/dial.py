"""``POST /dial``: enqueue an outbound call on ``dialer.requests`` (keyed by AccountSid).

The body is validated with :func:`callstream.dialrequest.from_input`, which fills the
account, ``requested_at``, a missing ``id`` and the default events. A repeated ``id`` is
accepted again with ``202`` and the same id; the dialer places each id once.
"""

from __future__ import annotations

import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callstream import topics
from callstream.dialrequest import DialRequestError, from_input
from callstream.settings import Settings
from callstream.web import BearerGuard, error
from ingest.callback import MAX_BODY, CallbackError
from ingest.metrics import IngestMetrics
from ingest.publisher import Publisher, Unavailable
from ingest.twilio_request import ClientGone, read_body

log = logging.getLogger("callstream.ingest")


class DialRoute:
    def __init__(
        self,
        settings: Settings,
        bind_host: str,
        publisher: Publisher,
        metrics: IngestMetrics,
        ack_timeout_s: float = 10.0,
    ) -> None:
        assert settings.twilio_account_sid is not None
        self.account_sid = settings.twilio_account_sid
        self.topic = settings.topic(topics.DIALER_REQUESTS)
        self.guard = BearerGuard(settings.api_token, bind_host)
        self.publisher = publisher
        self.metrics = metrics
        self.ack_timeout_s = ack_timeout_s

    async def endpoint(self, request: Request) -> Response:
        response = await self._handle(request)
        self.metrics.dial_requests.labels(status=str(response.status_code)).inc()
        if response.status_code >= 400:
            log.warning(
                "dial rejected", extra={"status": response.status_code, "reason": _code(response)}
            )
        return response

    async def _handle(self, request: Request) -> Response:
        denied = self.guard.check(request)
        if denied is not None:
            return denied
        ctype = request.headers.get("content-type", "application/json")
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            return error(415, "unsupported-media-type", "send the request as application/json")
        try:
            body = await read_body(request.receive, MAX_BODY)
        except CallbackError as e:
            return error(e.status, e.code, e.message)
        except ClientGone:
            return Response(status_code=400)
        try:
            obj = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):  # Recursion: nested too deep
            return error(400, "bad-json", "the body is not valid JSON")
        try:
            req = from_input(obj, self.account_sid)
        except DialRequestError as e:
            return error(400, "invalid-request", str(e))
        try:
            await self.publisher.send_direct(
                self.topic, self.account_sid.encode(), req.to_json(), self.ack_timeout_s
            )
        except Unavailable as e:
            log.error("dial request not stored", extra={"reason": str(e), "id": req.id})
            return error(503, "unavailable", "the request could not be stored; retry later")
        return JSONResponse({"id": req.id}, status_code=202)


def _code(response: Response) -> str:
    try:
        return str(json.loads(bytes(response.body)).get("error"))
    except (ValueError, AttributeError):
        return ""
