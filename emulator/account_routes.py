"""Twilio's Accounts resource: ``POST``/``GET /2010-04-01/Accounts.json`` (create a
subaccount, list) and ``GET``/``POST /2010-04-01/Accounts/{Sid}.json`` (fetch, update)."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import errors
from emulator.accounts import STATUSES, Account
from emulator.calls import API_VERSION
from emulator.createparams import first
from emulator.engine import Engine
from emulator.listing import paging
from emulator.rest import form_params, twilio_errors
from emulator.timefmt import rfc2822

log = logging.getLogger("callstream.emulator")
ROOT = f"/{API_VERSION}/Accounts"
SUBRESOURCES = {
    "addresses": "Addresses",
    "conferences": "Conferences",
    "signing_keys": "SigningKeys",
    "transcriptions": "Transcriptions",
    "connect_apps": "ConnectApps",
    "sip": "SIP",
    "authorized_connect_apps": "AuthorizedConnectApps",
    "usage": "Usage",
    "keys": "Keys",
    "applications": "Applications",
    "recordings": "Recordings",
    "short_codes": "SMS/ShortCodes",
    "calls": "Calls",
    "notifications": "Notifications",
    "incoming_phone_numbers": "IncomingPhoneNumbers",
    "queues": "Queues",
    "messages": "Messages",
    "outgoing_caller_ids": "OutgoingCallerIds",
    "available_phone_numbers": "AvailablePhoneNumbers",
    "balance": "Balance",
}


def account_json(account: Account) -> dict[str, object]:
    """Twilio's Account JSON. The auth token is included: only the account itself and its
    parent ever see it (see :meth:`AccountBook.reachable`)."""
    base = f"{ROOT}/{account.sid}"
    return {
        "auth_token": account.auth_token,
        "date_created": rfc2822(account.date_created),
        "date_updated": rfc2822(account.date_updated),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.owner_account_sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {k: f"{base}/{v}.json" for k, v in SUBRESOURCES.items()},
        "type": account.type,
        "uri": base + ".json",
    }


def accounts_page(accounts: list[Account], query: dict[str, str]) -> dict[str, object]:
    """One page of the list, filtered by ``FriendlyName`` and ``Status``. Accounts are never
    deleted and keep their order, so plain page numbers are stable; a ``PageToken`` is
    accepted and its page number used."""
    name, status = query.get("FriendlyName") or None, query.get("Status") or None
    if status is not None and status not in STATUSES:
        raise errors.bad_request("Status must be one of active, suspended, closed")
    size, page = paging(query)
    matching = [
        a
        for a in accounts
        if (name is None or a.friendly_name == name) and (status is None or a.status == status)
    ]
    start = page * size
    chunk = matching[start : start + size]
    kept = [(k, v) for k, v in (("FriendlyName", name), ("Status", status)) if v is not None]

    def uri(n: int) -> str:
        return f"{ROOT}.json?" + urlencode([*kept, ("PageSize", str(size)), ("Page", str(n))])

    has_next = start + size < len(matching)
    return {
        "accounts": [account_json(a) for a in chunk],
        "end": start + len(chunk) - 1 if chunk else start,
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) + f"&PageToken=PA{chunk[-1].sid}" if has_next else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page),
    }


def account_routes(engine: Engine) -> list[Route]:
    book = engine.accounts

    def caller(request: Request) -> Account:
        return book.caller(request.headers.get("authorization", ""))

    @twilio_errors
    async def create(request: Request) -> Response:
        owner = caller(request)
        params = await form_params(request)
        sub = book.create_subaccount(
            owner,
            engine.new_sid("AC"),
            engine.new_sid(""),
            first(params, "FriendlyName"),
            time.time(),
        )
        engine.add_account_queue(sub.sid)
        log.info("subaccount created", extra={"account_sid": sub.sid, "owner": owner.sid})
        return JSONResponse(account_json(sub), status_code=201)

    @twilio_errors
    async def list_accounts(request: Request) -> Response:
        visible = book.visible_to(caller(request))
        return JSONResponse(accounts_page(visible, dict(request.query_params)))

    @twilio_errors
    async def fetch(request: Request) -> Response:
        target = book.reachable(caller(request), request.path_params["sid"])
        return JSONResponse(account_json(target))

    @twilio_errors
    async def update(request: Request) -> Response:
        who = caller(request)
        target = book.reachable(who, request.path_params["sid"])
        params = await form_params(request)
        status = first(params, "Status")
        book.update(who, target, status, first(params, "FriendlyName"), time.time())
        if status is not None:
            log.info("account status", extra={"account_sid": target.sid, "status": status})
        return JSONResponse(account_json(target))

    return [
        Route(ROOT + ".json", create, methods=["POST"]),
        Route(ROOT + ".json", list_accounts, methods=["GET"]),
        Route(ROOT + "/{sid}.json", fetch, methods=["GET"]),
        Route(ROOT + "/{sid}.json", update, methods=["POST"]),
    ]
