"""Twilio endpoints for the dialer's tests: the project's emulator, the same emulator behind
a per-number fault plan (``planned``), and a sink for status callbacks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import EmulatorConfig, FaultSettings, create_app
from tests.dialer.planned_twilio import PlannedEmulator
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, ServedApp


@dataclass
class Sink:
    """Receives status callbacks (answers 204, keeps the form)."""

    url: str = ""
    forms: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def status(request: Request) -> Response:
            form = await request.form()
            with self.lock:
                self.forms.append({k: str(v) for k, v in form.items()})
            return Response(status_code=204)

        return Starlette(routes=[Route("/twilio/status", status, methods=["POST"])])

    def statuses(self, call_sid: str) -> list[str]:
        with self.lock:
            return [f["CallStatus"] for f in self.forms if f.get("CallSid") == call_sid]


@dataclass
class Emu:
    url: str

    def received(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url + "/emulator/requests", timeout=10).json())

    def created(self) -> list[dict[str, Any]]:
        return [
            {"to": dict(r["params"])["To"], "sid": r["call_sid"]}
            for r in self.received()
            if r.get("call_sid")
        ]


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    with ServedApp(s.app()) as served:
        s.url = served.url
        yield s


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emu]]:
    """An emulator served on loopback: ``make_emulator(cps=..., faults=FaultSettings(...))``;
    speed 20 so simulated calls end quickly (CPS pacing is never compressed)."""
    stack = ExitStack()

    def make(cps: float, **kw: Any) -> Emu:
        kw.setdefault("speed", 20.0)
        kw.setdefault("faults", FaultSettings())
        served = stack.enter_context(
            ServedApp(create_app(EmulatorConfig(ACCOUNT_SID, AUTH_TOKEN, cps=cps, **kw)))
        )
        return Emu(served.url)

    with stack:
        yield make


@pytest.fixture
def fake() -> Iterator[tuple[PlannedEmulator, str]]:
    """The emulator behind a per-number fault plan: ``(planned, url)``."""
    f = PlannedEmulator(ACCOUNT_SID, AUTH_TOKEN)
    with f.serve() as url:
        yield f, url
