"""The projector's HTTP API (Starlette), reading SQLite through read-only connections.

Query routes (``/calls``, ``/calls/{sid}``, ``/stats``) are behind the bearer guard; health
and metrics stay open. Each worker thread keeps its own read-only connection; WAL lets these
readers run while the consumer writes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callstream.web import JSON_HTTP_ERRORS, BearerGuard, error, health_routes
from projector import queries, schema
from projector.metrics import ProgressCollector, projector_registry
from projector.progress import Progress

T = TypeVar("T")


class Readers:
    """One read-only connection per thread, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.local()
        self.lock = threading.Lock()
        self.all: list[sqlite3.Connection] = []

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = schema.connect_readonly(self.path)
            self.local.conn = conn
            with self.lock:
                self.all.append(conn)
        return conn

    def close(self) -> None:
        with self.lock:
            for c in self.all:
                c.close()
            self.all.clear()


def _only(request: Request, *known: str) -> None:
    unknown = set(request.query_params.keys()) - set(known)
    if unknown:
        raise queries.QueryError(
            "bad-parameter", "unknown query parameter(s): " + ", ".join(sorted(unknown))[:200]
        )


def create_app(
    db_path: Path,
    guard: BearerGuard,
    progress: Progress | None = None,
    registry: CollectorRegistry | None = None,
) -> Starlette:
    readers = Readers(Path(db_path))
    registry = registry or projector_registry()
    if progress is not None:
        registry.register(ProgressCollector(progress))

    async def read(fn: Callable[[sqlite3.Connection], T]) -> T:
        return await run_in_threadpool(lambda: fn(readers.get()))

    def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def wrapped(request: Request) -> Response:
            denied = guard.check(request)
            if denied is not None:
                return denied
            try:
                resp: Response = await handler(request)
                return resp
            except queries.QueryError as e:
                return error(400, e.code, str(e))
            except schema.SchemaError as e:
                return error(503, "no-database", str(e))

        return wrapped

    async def get_call(request: Request) -> Response:
        sid = request.path_params["sid"]
        # an indexed read of one call and its few events: quicker on the event loop than
        # a hop to a worker thread (which costs GIL hand-offs while the consumer is busy)
        call = queries.get_call(readers.get(), sid)
        if call is None:
            return error(404, "unknown-call", f"no call {sid[:64]!r} has been projected")
        return JSONResponse(call)

    async def list_calls(request: Request) -> Response:
        q = request.query_params
        _only(request, "status", "direction", "parent", "limit", "cursor", "client", "account")
        limit = queries.parse_limit(q.get("limit"))
        kw: dict[str, Any] = {
            "status": q.get("status") or None,
            "direction": q.get("direction") or None,
            "parent": q.get("parent") or None,
            "limit": limit,
            "cursor": q.get("cursor") or None,
            "client": q.get("client") or None,  # calls where client:NAME is either party
            "account": q.get("account") or None,
        }
        queries.check_filters(kw["status"], kw["direction"])
        return JSONResponse(await read(lambda c: queries.list_calls(c, **kw)))

    async def get_stats(request: Request) -> Response:
        _only(request, "account")
        account = request.query_params.get("account") or None
        queries.check_account(account)
        return JSONResponse(await read(lambda c: queries.stats(c, account)))

    async def ready() -> tuple[bool, dict[str, Any]]:
        if progress is None:
            return True, {}
        lag = progress.lag()
        detail: dict[str, Any] = {
            "lag": sum(v for v in lag.values() if v is not None),
            "partitions": len(progress.partitions),
        }
        if progress.fatal:
            detail["error"] = progress.fatal
        elif progress.stalled():
            detail["error"] = (
                f"the consumer has not polled for {progress.poll_age_s():.0f} s: it is stuck "
                "(paused, hung disk); the figures shown are from before"
            )
            return False, detail
        return progress.caught_up(), detail

    routes = [
        Route("/calls", guarded(list_calls), methods=["GET"]),
        Route("/calls/{sid}", guarded(get_call), methods=["GET"]),
        Route("/stats", guarded(get_stats), methods=["GET"]),
        *health_routes(registry, ready),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        readers.close()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=JSON_HTTP_ERRORS)
    app.router.redirect_slashes = False  # a Host-derived redirect helps nobody here
    app.state.started = time.time()
    return app
