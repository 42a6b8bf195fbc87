"""The project's emulator behind a per-number fault plan, for the dialer's tests.

The emulator (checked by the Twilio contract suite in tests/emulator) answers every
request; this thin proxy in front of it only adds what its fault counters cannot say: the
next creates *to a given number* answer a given Twilio error. ``plan[to]`` is a list of
``(http_status, twilio_code, create_anyway)`` consumed one per create to that number;
``create_anyway`` passes the create on to the emulator first (a 5xx after the call was
made). It keeps its own log of the creates it received (``GET /emulator/requests``, the
emulator's shape), so calls seeded with :meth:`PlannedEmulator.seed` are not in it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import EmulatorConfig, create_app
from tests.helpers import ServedApp

Fault = tuple[int, int, bool]
CALLS = "/2010-04-01/Accounts/{sid}/Calls.json"


class PlannedEmulator:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.emulator_url = ""  # set by serve()
        self.requests: list[dict[str, Any]] = []
        self.plan: dict[str, list[Fault]] = {}
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(CALLS, self._create, methods=["POST"]),
                Route("/emulator/requests", self._requests, methods=["GET"]),
                Route("/{path:path}", self._forward, methods=["GET", "POST", "DELETE"]),
            ]
        )

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the emulator (no CPS limit of its own to speak of, speed 20) and this
        proxy on loopback; yields the proxy's URL, the dialer's ``TWILIO_API_URL``."""
        config = EmulatorConfig(self.account_sid, self.auth_token, cps=1000.0, speed=20.0)
        with ServedApp(create_app(config)) as emu, ServedApp(self.app) as proxy:
            self.emulator_url = emu.url
            yield proxy.url

    def seed(self, to: str, from_: str) -> str:
        """Create a call on the emulator directly (not logged here); returns its sid."""
        r = httpx.post(
            self.emulator_url + CALLS.format(sid=self.account_sid),
            data={"To": to, "From": from_, "Twiml": "<Response><Hangup/></Response>"},
            auth=(self.account_sid, self.auth_token),
            timeout=10,
        )
        r.raise_for_status()
        return str(r.json()["sid"])

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)

    def created(self) -> list[dict[str, Any]]:
        """The calls the creates logged here made: ``{"to", "sid"}``."""
        return [
            {"to": dict(r["params"])["To"], "sid": r["call_sid"]}
            for r in self.received()
            if r["call_sid"]
        ]

    async def _create(self, request: Request) -> Response:
        received_at = time.time()
        body = await request.body()
        form = await request.form()
        params = [[k, str(v)] for k, v in form.multi_items()]
        to = str(form.get("To", ""))
        with self.lock:
            plan = self.plan.get(to)
            fault = plan.pop(0) if plan else None
        answer: Response | None = None
        call_sid = None
        if fault is None or fault[2]:
            answer = await self._pass(request, body)
            if answer.status_code == 201:
                call_sid = _sid(answer)
        with self.lock:
            self.requests.append(
                {
                    "account_sid": request.path_params["sid"],
                    "received_at": received_at,
                    "params": params,
                    "call_sid": call_sid,
                }
            )
        if fault is not None:
            status, code, _ = fault
            return _error(status, code, f"injected error {code}")
        assert answer is not None
        return answer

    async def _requests(self, request: Request) -> Response:
        return JSONResponse(self.received())

    async def _forward(self, request: Request) -> Response:
        return await self._pass(request, await request.body())

    async def _pass(self, request: Request, body: bytes) -> Response:
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.request(
                request.method,
                self.emulator_url + request.url.path,
                params=list(request.query_params.multi_items()),
                content=body,
                headers=headers,
            )
        return Response(
            r.content, status_code=r.status_code, media_type=r.headers.get("content-type")
        )


def _sid(answer: Response) -> str | None:
    import json

    sid = json.loads(bytes(answer.body)).get("sid")
    return sid if isinstance(sid, str) else None


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )
