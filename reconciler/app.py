"""The reconciler's small HTTP side: ``/livez``, ``/readyz`` and ``/metrics``.

The loop runs in a thread started by the app's lifespan and stopped when the server shuts
down (SIGTERM, Ctrl-C), so one process serves both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette

from callstream.web import JSON_HTTP_ERRORS, health_routes
from reconciler.loop import Reconciler


def create_app(reconciler: Reconciler, exit_on_failure: bool = True) -> Starlette:
    def run_loop() -> None:
        try:
            reconciler.run()
        except BaseException:
            if exit_on_failure:
                # bring the server (and the process) down; cli.run reports the failure
                os.kill(os.getpid(), signal.SIGTERM)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        t = threading.Thread(target=run_loop, name="reconciler-loop", daemon=True)
        t.start()
        try:
            yield
        finally:
            reconciler.stop()
            t.join(timeout=30)

    async def ready() -> tuple[bool, dict[str, Any]]:
        return reconciler.status()

    app = Starlette(
        routes=health_routes(reconciler.metrics.registry, ready),
        lifespan=lifespan,
        exception_handlers=JSON_HTTP_ERRORS,
    )
    app.router.redirect_slashes = False
    return app
