"""``create_app(config)``: the emulator as a Starlette app.

In tests::

    from emulator import EmulatorConfig, create_app
    from tests.helpers import ServedApp

    with ServedApp(create_app(EmulatorConfig(ACCOUNT_SID, AUTH_TOKEN, cps=10))) as emu:
        client = twilio.rest.Client(ACCOUNT_SID, AUTH_TOKEN)
        client.api.base_url = emu.url
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callstream.web import health_routes
from emulator import errors
from emulator.account_routes import account_routes
from emulator.admin import admin_routes
from emulator.config import EmulatorConfig
from emulator.engine import Engine
from emulator.metrics import Metrics
from emulator.rest import rest_routes


def create_app(config: EmulatorConfig) -> Starlette:
    metrics = Metrics()
    engine = Engine(config, metrics)
    metrics.queue_depth.set_function(engine.queue_depth)

    async def ready() -> tuple[bool, dict[str, Any]]:
        return engine.started, {"queued": engine.queue_depth()}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if request.url.path.startswith("/2010-04-01/"):
            if status == 405:
                return errors.TwilioError(405, 20004, "Method not allowed").response()
            return errors.not_found(request.url.path).response()
        return JSONResponse({"error": "not-found", "message": "no such route"}, status_code=status)

    app = Starlette(
        routes=[
            *rest_routes(engine),
            *account_routes(engine),
            *admin_routes(engine),
            *health_routes(metrics.registry, ready),
        ],
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_found},
    )
    app.router.redirect_slashes = False  # Twilio's API does not redirect either
    app.state.engine = engine
    return app
