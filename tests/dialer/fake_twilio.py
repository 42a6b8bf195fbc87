"""A minimal stand-in for Twilio's REST Calls API, for the dialer's tests.

It records the receive time of every create request (``GET /emulator/requests``, the
emulator's shape) and can answer chosen requests with Twilio errors: ``plan[to]`` is a list
of ``(http_status, twilio_code, create_anyway)`` consumed one per create to that number.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Fault = tuple[int, int, bool]


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.plan: dict[str, list[Fault]] = {}
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Calls.json", self._create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Calls.json", self._list, methods=["GET"]),
                Route("/emulator/requests", self._requests, methods=["GET"]),
            ]
        )

    def created(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.calls)

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)

    def _authorized(self, request: Request) -> bool:
        want = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {want}"

    async def _create(self, request: Request) -> Response:
        received_at = time.time()
        form = await request.form()
        params = [[k, str(v)] for k, v in form.multi_items()]
        sid = request.path_params["sid"]
        if not self._authorized(request) or sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        to = str(form.get("To", ""))
        with self.lock:
            plan = self.plan.get(to)
            fault = plan.pop(0) if plan else None
            call_sid = "CA" + uuid.uuid4().hex
            self.requests.append(
                {
                    "account_sid": sid,
                    "received_at": received_at,
                    "params": params,
                    "call_sid": None if fault and not fault[2] else call_sid,
                }
            )
            call = {
                "sid": call_sid,
                "account_sid": sid,
                "to": to,
                "from": form.get("From"),
                "status": "queued",
                "date_created": formatdate(received_at, usegmt=True),
                "start_time": None,
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json",
            }
            if fault is None or fault[2]:
                self.calls.append(call)
        if fault is not None:
            status, code, _ = fault
            return _error(status, code, f"injected error {code}")
        return JSONResponse(call, status_code=201)

    async def _list(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        to, frm = request.query_params.get("To"), request.query_params.get("From")
        with self.lock:
            calls = [
                c
                for c in reversed(self.calls)
                if (to is None or c["to"] == to) and (frm is None or c["from"] == frm)
            ]
        uri = str(request.url.path)
        return JSONResponse(
            {
                "calls": calls,
                "end": len(calls),
                "first_page_uri": uri,
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": uri,
            }
        )

    async def _requests(self, request: Request) -> Response:
        return JSONResponse(self.received())


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )
