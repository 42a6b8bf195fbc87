"""``POST /dial``: enqueue an outbound call on ``dialer.requests`` (keyed by AccountSid).

The body is validated with :func:`callstream.dialrequest.from_input`, which fills the
account, ``requested_at``, a missing ``id`` and the default events. A repeated ``id`` is
accepted again with ``202`` and the same id; the dialer places each id once.

An optional ``account_sid`` names the account (or discovered subaccount) that places the
call; without it, the first configured account does. One callstream does not serve, or a
closed or suspended one, gets ``400 unknown-account``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callstream import topics
from callstream.accounts import Account
from callstream.dialrequest import DialRequestError, from_input
from callstream.ids import is_account_sid
from callstream.settings import Settings
from callstream.subaccounts import AccountBook
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
        *,
        ack_timeout_s: float = 10.0,
        book: AccountBook | None = None,
    ) -> None:
        if book is None:
            assert settings.twilio_account_sid is not None and settings.twilio_auth_token
            book = AccountBook([Account(settings.twilio_account_sid, settings.twilio_auth_token)])
        self.book = book
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
        account_sid = await self._account(obj)
        if account_sid is None:
            return error(
                400,
                "unknown-account",
                "account_sid names no active account callstream serves (see 'callstream accounts')",
            )
        try:
            req = from_input(obj, account_sid)
        except DialRequestError as e:
            return error(400, "invalid-request", str(e))
        try:
            await self.publisher.send_direct(
                self.topic, account_sid.encode(), req.to_json(), self.ack_timeout_s
            )
        except Unavailable as e:
            log.error("dial request not stored", extra={"reason": str(e), "id": req.id})
            return error(503, "unavailable", "the request could not be stored; retry later")
        return JSONResponse({"id": req.id}, status_code=202)

    async def _account(self, obj: Any) -> str | None:
        """The account ``obj`` names (removed from it), the first one when it names none;
        None when it is unknown, closed or suspended."""
        if not isinstance(obj, dict) or "account_sid" not in obj:
            return self.book.first.sid
        sid = obj.pop("account_sid")
        if not isinstance(sid, str) or not is_account_sid(sid):
            return None
        acct = self.book.get(sid)
        if acct is None and self.book.may_list():
            acct = await asyncio.to_thread(self.book.lookup, sid)
        return None if acct is None else acct.sid


def _code(response: Response) -> str:
    try:
        return str(json.loads(bytes(response.body)).get("error"))
    except (ValueError, AttributeError):
        return ""
