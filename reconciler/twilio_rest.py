"""twilio-python behind the one request the reconciler makes: fetch a call.

``TWILIO_API_URL`` is applied as the dialer does (``dialer/twilio_api.py``): the API
domain's ``base_url`` is set, and the client gets an empty ``environment`` so
``TWILIO_EDGE``/``TWILIO_REGION`` cannot rewrite the host. twilio-python's exception does not
carry the response headers, so the HTTP client keeps the last response's
``Retry-After`` and ``Twilio-Concurrent-Requests`` (requests are made one at a time).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Protocol

from reconciler.policy import Answer, Failed, Found, Limited, NotFound
from reconciler.snapshot import RestCall

log = logging.getLogger("callstream.reconciler.twilio")

Credentials = Callable[[str], tuple[str, str] | None]
"""Account SID -> (username, password) for its REST requests, or None when unknown."""


@dataclass(frozen=True)
class Fetched:
    """Twilio's answer, the call when it was found, and the concurrency it reported."""

    answer: Answer
    call: RestCall | None = None
    concurrent: int | None = None  # Twilio-Concurrent-Requests


class CallsApi(Protocol):
    def fetch(self, account_sid: str, call_sid: str) -> Fetched: ...


def _http_client(timeout_s: float) -> Any:
    from twilio.http.http_client import TwilioHttpClient

    class HeaderKeeping(TwilioHttpClient):  # type: ignore[misc]
        last_headers: Any = None

        def request(self, *args: Any, **kwargs: Any) -> Any:
            self.last_headers = None
            response = super().request(*args, **kwargs)
            self.last_headers = response.headers
            return response

    return HeaderKeeping(timeout=timeout_s)


class TwilioRest:
    """The real thing: one twilio-python ``Client`` per account, made on first use."""

    def __init__(self, credentials: Credentials, base_url: str, timeout_s: float) -> None:
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._clients: dict[str, Any] = {}

    def _client(self, account_sid: str) -> Any:
        client = self._clients.get(account_sid)
        if client is None:
            from twilio.rest import Client

            creds = self.credentials(account_sid)
            if creds is None:
                return None
            client = Client(
                creds[0],
                creds[1],
                account_sid=account_sid,
                http_client=_http_client(self.timeout_s),
                environment={},
            )
            client.api.base_url = self.base_url
            self._clients[account_sid] = client
        return client

    def fetch(self, account_sid: str, call_sid: str) -> Fetched:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        client = self._client(account_sid)
        if client is None:
            return Fetched(Failed(f"no credentials for account {account_sid}"))
        try:
            call = client.api.v2010.accounts(account_sid).calls(call_sid).fetch()
        except TwilioRestException as e:
            headers = client.http_client.last_headers
            concurrent = _int_header(headers, "Twilio-Concurrent-Requests")
            if e.status == 404:
                return Fetched(NotFound(), concurrent=concurrent)
            if e.status == 429 or e.code == 20429:
                return Fetched(Limited(_retry_after(headers)), concurrent=concurrent)
            return Fetched(Failed(f"HTTP {e.status} ({e.code})"), concurrent=concurrent)
        except (requests.exceptions.RequestException, TwilioException, ValueError) as e:
            return Fetched(Failed(_short(e)))
        concurrent = _int_header(client.http_client.last_headers, "Twilio-Concurrent-Requests")
        rest = rest_call(call, account_sid)
        if rest is None:
            return Fetched(Failed("the answer has no sid or status"), concurrent=concurrent)
        return Fetched(Found(rest.status), rest, concurrent)


def rest_call(call: Any, account_sid: str) -> RestCall | None:
    """twilio-python's ``CallInstance`` as a :class:`RestCall`."""
    sid, status = getattr(call, "sid", None), getattr(call, "status", None)
    if not isinstance(sid, str) or status is None:
        return None
    return RestCall(
        sid=sid,
        account_sid=_text(getattr(call, "account_sid", None)) or account_sid,
        status=str(status).strip().lower(),
        direction=_text(getattr(call, "direction", None)),
        from_=_text(getattr(call, "_from", None)),
        to=_text(getattr(call, "to", None)),
        parent_call_sid=_text(getattr(call, "parent_call_sid", None)),
        start_time=_when(getattr(call, "start_time", None)),
        end_time=_when(getattr(call, "end_time", None)),
        date_updated=_when(getattr(call, "date_updated", None)),
        duration=_text(getattr(call, "duration", None)),
        answered_by=_text(getattr(call, "answered_by", None)),
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _when(value: Any) -> str | None:
    """twilio-python parses Twilio's RFC 2822 times into aware datetimes; back to the text
    form callbacks use (``Tue, 01 Nov 2016 01:59:13 +0000``)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return format_datetime(value)
    return None


def _int_header(headers: Any, name: str) -> int | None:
    raw = headers.get(name) if headers is not None else None
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _retry_after(headers: Any) -> float | None:
    """``Retry-After`` in seconds (an HTTP date form is treated as absent)."""
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _short(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    return text if len(text) <= 300 else text[:297] + "..."
