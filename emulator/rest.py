"""Twilio's Voice REST routes: create, list, fetch, update and delete calls."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import errors
from emulator.calls import Call, call_json
from emulator.callupdate import parse_update
from emulator.createparams import parse_create
from emulator.engine import Engine
from emulator.errors import TwilioError
from emulator.listing import list_page

PREFIX = "/2010-04-01/Accounts/{account_sid}"
Handler = Callable[[Request], Awaitable[Response]]


def authenticate(request: Request, engine: Engine) -> str:
    """The account SID of the path, once HTTP Basic credentials prove it (its own, or its
    parent's: see :mod:`emulator.accounts`); else 20003, or 20005 when it is not active."""
    authorization = request.headers.get("authorization", "")
    return engine.accounts.acting_on(authorization, request.path_params["account_sid"]).sid


async def form_params(request: Request) -> list[tuple[str, str]]:
    """The form exactly as received: order and repeated names kept."""
    body = await request.body()
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


def twilio_errors(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except TwilioError as e:
            return e.response()

    return wrapped


def rest_routes(engine: Engine) -> list[Route]:
    def call_of(request: Request, account: str) -> Call:
        call = engine.calls.get(request.path_params["call_sid"])
        if call is None or call.account_sid != account:
            raise errors.not_found(request.url.path)
        return call

    @twilio_errors
    async def create(request: Request) -> Response:
        received_at = time.time()
        account = authenticate(request, engine)
        params = await form_params(request)
        entry = engine.record_request(account, received_at, params)
        fault = engine.faults.next_fault()
        try:
            if fault == "429":
                raise errors.too_many_requests()
            if fault == "500":
                raise errors.internal_error()
            if fault == "503":
                raise errors.unavailable()
            call = engine.create_outbound(account, parse_create(params), entry)
        except TwilioError as e:
            entry["response_status"] = e.status
            engine.metrics.creates.labels(str(e.status)).inc()
            raise
        if fault == "500-created":
            entry["response_status"] = 500
            engine.metrics.creates.labels("500").inc()
            raise errors.internal_error()
        entry["response_status"] = 201
        engine.metrics.creates.labels("201").inc()
        return JSONResponse(call_json(call), status_code=201)

    @twilio_errors
    async def list_calls(request: Request) -> Response:
        account = authenticate(request, engine)
        mine = [c for c in engine.order if c.account_sid == account]
        query = list(request.query_params.multi_items())
        return JSONResponse(list_page(mine, query, request.url.path))

    @twilio_errors
    async def fetch(request: Request) -> Response:
        account = authenticate(request, engine)
        return JSONResponse(call_json(call_of(request, account)))

    @twilio_errors
    async def update(request: Request) -> Response:
        account = authenticate(request, engine)
        call = call_of(request, account)
        req = parse_update(await form_params(request), call.ended)
        if req.status_callback is not None:
            call.status_callback = req.status_callback or None
        if req.status_callback_method is not None:
            call.status_callback_method = req.status_callback_method
        if req.status is not None:
            engine.update_status(call, req.status)
        elif req.url is not None or req.twiml is not None:
            engine.redirect(call, req.url, req.method, req.twiml)
        return JSONResponse(call_json(call))

    @twilio_errors
    async def delete(request: Request) -> Response:
        account = authenticate(request, engine)
        call = call_of(request, account)
        if not call.ended:
            raise errors.TwilioError(400, 20009, "Cannot delete a call that is not finished")
        del engine.calls[call.sid]
        engine.order.remove(call)
        return Response(status_code=204)

    return [
        Route(PREFIX + "/Calls.json", create, methods=["POST"]),
        Route(PREFIX + "/Calls.json", list_calls, methods=["GET"]),
        Route(PREFIX + "/Calls/{call_sid}.json", fetch, methods=["GET"]),
        Route(PREFIX + "/Calls/{call_sid}.json", update, methods=["POST"]),
        Route(PREFIX + "/Calls/{call_sid}.json", delete, methods=["DELETE"]),
    ]
