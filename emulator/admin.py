"""The emulator's own routes under ``/emulator/``: the create log, the callback log,
fault switches and simulated inbound calls. No authentication: the emulator is a local
test tool (bind it to loopback)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callstream.web import error
from emulator.engine import Engine
from emulator.faults import FaultSettings
from emulator.inbound import start_inbound
from emulator.inbound_request import InboundError, inbound_call


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, a huge int, nested too deep
        return None


def admin_routes(engine: Engine) -> list[Route]:
    async def requests(request: Request) -> Response:
        return JSONResponse(engine.requests)

    async def callbacks(request: Request) -> Response:
        sid = request.query_params.get("call_sid")
        log = [e for e in engine.callbacks.log if sid is None or e["call_sid"] == sid]
        return JSONResponse(log)

    async def sink_log(request: Request) -> Response:
        sink = engine.event_sink
        return JSONResponse(
            {"url": None, "batches": []}
            if sink is None
            else {"url": sink.config.url, "pending": sink.pending(), "batches": sink.log}
        )

    async def twiml_requests(request: Request) -> Response:
        return JSONResponse(engine.twiml_requests)

    async def get_faults(request: Request) -> Response:
        return JSONResponse(engine.faults.state())

    async def set_faults(request: Request) -> Response:
        try:
            settings = FaultSettings.from_json(await _json_body(request))
        except (ValueError, TypeError) as e:
            return error(400, "bad-faults", str(e))
        engine.faults.replace(settings)
        return JSONResponse(engine.faults.state())

    async def inbound(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return error(400, "bad-json", "body must be a JSON object")
        account = body.get("account_sid", engine.config.account_sid)
        if not isinstance(account, str) or account not in engine.accounts:
            return error(400, "unknown-account", "account_sid is not an account of this emulator")
        try:
            kwargs = inbound_call(body, account)
        except InboundError as e:
            return error(400, e.code, str(e))
        call = start_inbound(engine, account, **kwargs)
        return JSONResponse({"call_sid": call.sid}, status_code=201)

    return [
        Route("/emulator/requests", requests, methods=["GET"]),
        Route("/emulator/callbacks", callbacks, methods=["GET"]),
        Route("/emulator/events", sink_log, methods=["GET"]),
        Route("/emulator/twiml-requests", twiml_requests, methods=["GET"]),
        Route("/emulator/faults", get_faults, methods=["GET"]),
        Route("/emulator/faults", set_faults, methods=["POST"]),
        Route("/emulator/inbound", inbound, methods=["POST"]),
    ]
