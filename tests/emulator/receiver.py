"""A webhook receiver for the contract tests: checks every request with twilio-python's
``RequestValidator`` against the public URL it was reached at, and records it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.helpers import wait_until


@dataclass
class Hit:
    path: str
    method: str
    url: str  # the URL the signature was checked against
    params: list[tuple[str, str]]
    headers: dict[str, str]
    valid: bool

    @property
    def p(self) -> dict[str, str]:
        return dict(self.params)


@dataclass
class Receiver:
    auth_token: str
    public_base: str = ""  # set once served (or to a tunnel's public URL for real Twilio)
    hits: list[Hit] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)  # path -> status to answer
    twiml: dict[str, str] = field(default_factory=dict)  # path -> TwiML body to answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        validator = RequestValidator(self.auth_token)

        async def hook(request: Request) -> Response:
            path = request.url.path
            signature = request.headers.get("x-twilio-signature", "")
            url = self.public_base + path
            if request.url.query:
                url += "?" + request.url.query
            if request.method == "POST":
                form = await request.form()
                params = [(k, str(v)) for k, v in form.multi_items()]
                valid = validator.validate(url, dict(params), signature)
            else:
                params = list(request.query_params.multi_items())
                valid = validator.validate(url, {}, signature)
            with self.lock:
                hit = Hit(path, request.method, url, params, dict(request.headers), valid)
                self.hits.append(hit)
            if path in self.twiml:
                return Response(self.twiml[path], media_type="application/xml")
            return Response(status_code=self.status.get(path, 204))

        return Starlette(routes=[Route("/{rest:path}", hook, methods=["GET", "POST"])])

    def url(self, path: str) -> str:
        return self.public_base + path

    def at(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def for_call(self, call_sid: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.p.get("CallSid") == call_sid]

    def wait(self, pred: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
        return wait_until(pred, timeout=timeout, what=what)

    def wait_terminal(self, call_sid: str, timeout: float = 20.0) -> Hit:
        """The call's ``completed``-event callback (whatever its terminal CallStatus)."""
        terminal = {"completed", "busy", "failed", "no-answer", "canceled"}

        def find() -> Hit | None:
            return next(
                (h for h in self.for_call(call_sid) if h.p.get("CallStatus") in terminal), None
            )

        hit = wait_until(find, timeout=timeout, what=f"terminal callback of {call_sid}")
        assert hit is not None
        return hit
