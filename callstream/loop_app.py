"""A service whose work is one loop in a thread, behind ``/livez``, ``/readyz`` and
``/metrics``.

The loop is started by the app's lifespan and stopped when the server shuts down
(SIGTERM, Ctrl-C), so one process serves both. A loop that fails brings the server (and the
process) down; the command then reports the failure in one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from callstream.web import JSON_HTTP_ERRORS, health_routes


def loop_app(
    run: Callable[[], None],
    stop: Callable[[], None],
    registry: CollectorRegistry,
    status: Callable[[], tuple[bool, dict[str, Any]]],
    *,
    name: str,
    exit_on_failure: bool = True,
) -> Starlette:
    def run_loop() -> None:
        try:
            run()
        except BaseException:
            if exit_on_failure:
                os.kill(os.getpid(), signal.SIGTERM)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        t = threading.Thread(target=run_loop, name=f"{name}-loop", daemon=True)
        t.start()
        try:
            yield
        finally:
            stop()
            t.join(timeout=30)

    async def ready() -> tuple[bool, dict[str, Any]]:
        return status()

    app = Starlette(
        routes=health_routes(registry, ready),
        lifespan=lifespan,
        exception_handlers=JSON_HTTP_ERRORS,
    )
    app.router.redirect_slashes = False
    return app
