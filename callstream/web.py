"""HTTP pieces every service shares: JSON errors, bearer-token checks, health and metrics
routes, and running an app under uvicorn with one "ready" log line."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callstream.httplimits import DEFAULT_LIMITS, HttpLimits, LimitedHttpToolsProtocol

log = logging.getLogger("callstream.web")

ReadyCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The error body every callstream route uses: ``{"error": code, "message": sentence}``."""
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


async def json_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown path, wrong method) and its 500 (an exception in a
    route) as the JSON error body."""
    status = getattr(exc, "status_code", 500)
    code = {404: "not-found", 405: "method-not-allowed", 500: "internal-error"}.get(
        status, "http-error"
    )
    message = {
        404: "no such route",
        405: "method not allowed on this route",
        500: "the request failed on the server; it is logged",
    }.get(status, "request refused")
    resp = error(status, code, message)
    resp.headers.update(getattr(exc, "headers", None) or {})
    return resp


JSON_HTTP_ERRORS: dict[Any, Any] = {
    404: json_http_error,
    405: json_http_error,
    500: json_http_error,
}


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerGuard:
    """``Authorization: Bearer <CALLSTREAM_API_TOKEN>``, compared in constant time.

    With no token configured the guarded routes answer only when the service is bound to a
    loopback address; on any other bind they refuse, so an unconfigured deployment is
    never open to the network.
    """

    def __init__(self, token: str | None, bind_host: str) -> None:
        self.token = token.encode() if token else None
        self.loopback = is_loopback_host(bind_host)

    def check(self, request: Request) -> JSONResponse | None:
        if self.token is None:
            if self.loopback:
                return None
            return error(
                401,
                "api-token-required",
                "set CALLSTREAM_API_TOKEN to use this route on a non-loopback address",
            )
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self.token
        ):
            return JSONResponse(
                {"error": "unauthorized", "message": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="callstream"'},
            )
        return None


def health_routes(registry: CollectorRegistry, ready: ReadyCheck) -> list[Route]:
    """``/livez`` (always 200 while the process serves), ``/readyz`` and ``/metrics``."""

    async def livez(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ok, detail = await ready()
        return JSONResponse(
            {"status": "ready" if ok else "not-ready", **detail}, status_code=200 if ok else 503
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/livez", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


class Server(uvicorn.Server):
    """uvicorn's server that logs one "ready" line and exits 0 after a requested stop."""

    def __init__(self, config: uvicorn.Config, service: str) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: Any) -> None:
        # uvicorn re-raises a captured SIGTERM/SIGINT after its graceful shutdown, which
        # makes the process die by the signal (status 143/130). A service that shut down
        # cleanly on request should exit 0, so forget the signal once it is handled.
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            cfg = self.config
            log.info(
                "ready",
                extra={"url": f"http://{cfg.host}:{cfg.port}", "service_name": self.service},
            )


def make_server(
    app: Any,
    host: str,
    port: int,
    service: str,
    *,
    graceful_s: int = 10,
    limits: HttpLimits = DEFAULT_LIMITS,
    **config: Any,
) -> Server:
    """The uvicorn server every service runs: no access log, our JSON logging, lifespan on,
    :class:`callstream.httplimits.HttpLimits` on every connection, only the methods each
    route declares, and JSON errors for what the server itself answers."""
    only_declared_methods(app)
    handlers = getattr(app, "exception_handlers", None)
    if isinstance(handlers, dict) and not {500, Exception} & set(handlers):
        handlers[500] = json_http_error  # Starlette's own 500 is text/plain
    protocol = type("LimitedHttp", (LimitedHttpToolsProtocol,), {"limits": limits})
    cfg = uvicorn.Config(
        JsonServerErrors(app),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=graceful_s,
        http=protocol,
        ws="none",
        **config,
    )
    return Server(cfg, service)


def only_declared_methods(app: Any) -> None:
    """Starlette answers ``HEAD`` on every ``GET`` route by itself; callstream documents
    only the methods it names (a ``HEAD`` callback was once appended to the topic). Drop the
    implicit ``HEAD`` so such requests get ``405``."""
    for route in getattr(app, "routes", None) or []:
        methods = getattr(route, "methods", None)
        if isinstance(methods, set) and "GET" in methods:
            methods.discard("HEAD")
        only_declared_methods(route)  # a Mount's sub-routes


class JsonServerErrors:
    """The outermost ASGI layer: an exception that escapes the app (a route mounted past
    Starlette's error middleware) or an app that returns without answering gets a JSON
    ``500`` instead of uvicorn's ``text/plain`` one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            return  # the client went away (or was dropped for a timeout): nobody to answer
        except Exception:
            if started:  # answered already (Starlette's error middleware): uvicorn logs it
                raise
            log.exception("request failed", extra={"path": scope.get("path")})
        else:
            if started:
                return
        response = error(500, "internal-error", "the request failed on the server; it is logged")
        await response(scope, receive, send)


def serve(app: Any, host: str, port: int, service: str, **config: Any) -> None:
    """Run ``app`` until SIGTERM or Ctrl-C; log one line when it accepts connections."""
    server = make_server(app, host, port, service, **config)
    server.run()
    if not server.started:
        raise SystemExit(f"callstream {service}: error: could not listen on {host}:{port}")
