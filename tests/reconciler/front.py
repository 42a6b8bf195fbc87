"""The project's emulator behind a thin front that counts, and can refuse, call fetches.

The emulator answers every request; the front forwards them and only adds what the
reconciler's tests need: the time of every ``GET .../Calls/{Sid}.json`` it received, and a
plan of answers to give instead (``429`` with ``Retry-After`` and Twilio's 20429 JSON, or
``404``), consumed one per fetch of that call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import EmulatorConfig, create_app
from emulator.chaos import Chaos
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, ServedApp

FETCH = "/2010-04-01/Accounts/{account}/Calls/{sid}.json"


@dataclass
class Planned:
    status: int
    retry_after: str | None = None


@dataclass
class Front:
    emulator_url: str = ""
    url: str = ""
    fetches: dict[str, list[float]] = field(default_factory=dict)
    plan: dict[str, list[Planned]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(FETCH, self._fetch, methods=["GET"]),
                Route("/{path:path}", self._forward, methods=["GET", "POST"]),
            ]
        )

    def count(self, sid: str) -> int:
        with self.lock:
            return len(self.fetches.get(sid, []))

    def times(self, sid: str) -> list[float]:
        with self.lock:
            return list(self.fetches.get(sid, []))

    async def _fetch(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        with self.lock:
            self.fetches.setdefault(sid, []).append(time.monotonic())
            todo = self.plan.get(sid)
            planned = todo.pop(0) if todo else None
        if planned is not None:
            headers = {"Twilio-Concurrent-Requests": "3"}
            if planned.retry_after is not None:
                headers["Retry-After"] = planned.retry_after
            code = 20429 if planned.status == 429 else 20404
            body = {"code": code, "message": "planned", "more_info": "", "status": planned.status}
            return JSONResponse(body, planned.status, headers=headers)
        return await self._forward(request)

    async def _forward(self, request: Request) -> Response:
        async with httpx.AsyncClient() as client:
            r = await client.request(
                request.method,
                self.emulator_url + request.url.path,
                params=list(request.query_params.multi_items()),
                content=await request.body(),
                headers={
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() in ("authorization", "content-type")
                },
                timeout=10,
            )
        return Response(r.content, r.status_code, media_type=r.headers.get("content-type"))


@contextmanager
def emulator_front(drop: float = 1.0, speed: float = 20.0) -> Iterator[Front]:
    """The emulator losing ``drop`` of its callbacks, with the front before it."""
    config = EmulatorConfig(
        ACCOUNT_SID, AUTH_TOKEN, cps=1000.0, speed=speed, chaos=Chaos(drop=drop), seed=7
    )
    front = Front()
    with ServedApp(create_app(config)) as emu, ServedApp(front.app()) as served:
        front.emulator_url, front.url = emu.url, served.url
        yield front


def place_call(front: Front, to: str = "+15005550006") -> str:
    """Create a call on the emulator through twilio-python; returns its sid."""
    from twilio.rest import Client

    client = Client(ACCOUNT_SID, AUTH_TOKEN, environment={})
    client.api.base_url = front.emulator_url
    call = client.calls.create(
        to=to,
        from_="+15005550001",
        twiml="<Response><Say>hi</Say></Response>",
        status_callback="http://127.0.0.1:9/twilio/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    return str(call.sid)


def rest_status(front: Front, sid: str) -> str:
    r = httpx.get(
        f"{front.emulator_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=10,
    )
    return str(r.json()["status"])
