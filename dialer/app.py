"""The dialer's small HTTP side: ``/livez``, ``/readyz`` and ``/metrics``.

The dialer loop runs in a thread started by the app's lifespan and stopped when the server
shuts down (SIGTERM, Ctrl-C), so one process serves both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette

from callstream.web import JSON_HTTP_ERRORS, health_routes
from dialer.loop import Dialer

log = logging.getLogger("callstream.dialer")


def create_app(dialer: Dialer, exit_on_failure: bool = True) -> Starlette:
    thread: dict[str, threading.Thread] = {}

    def run_loop() -> None:
        try:
            dialer.run()
        except BaseException:
            if exit_on_failure:
                # bring the server (and the process) down; cli.run reports the failure
                os.kill(os.getpid(), signal.SIGTERM)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        t = threading.Thread(target=run_loop, name="dialer-loop", daemon=True)
        thread["t"] = t
        t.start()
        try:
            yield
        finally:
            dialer.stop()
            t.join(timeout=30)

    async def ready() -> tuple[bool, dict[str, Any]]:
        return dialer.status()

    app = Starlette(
        routes=health_routes(dialer.metrics.registry, ready),
        lifespan=lifespan,
        exception_handlers=JSON_HTTP_ERRORS,
    )
    app.router.redirect_slashes = False
    return app
