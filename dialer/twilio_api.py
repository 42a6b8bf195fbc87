"""twilio-python behind the two calls the dialer makes: create a call, find calls.

``TWILIO_API_URL`` is applied by setting the API domain's ``base_url``; every request URL
is built from it (``twilio/base/domain.py``). The client gets an empty ``environment`` so
``TWILIO_EDGE``/``TWILIO_REGION`` cannot rewrite that host.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from callstream.dialrequest import DialRequest
from dialer.retry import Failure

log = logging.getLogger("callstream.dialer.twilio")


@dataclass(frozen=True)
class Created:
    call_sid: str | None
    status: str | None


@dataclass(frozen=True)
class FoundCall:
    sid: str
    to: str | None
    from_: str | None
    date_created: float | None  # Unix seconds (Twilio gives whole seconds)


class CallsApi(Protocol):
    def create(self, req: DialRequest, status_callback: str) -> Created | Failure: ...

    def find(self, to: str, from_: str) -> list[FoundCall]: ...


class TwilioCalls:
    """The real thing, through twilio-python."""

    def __init__(self, account_sid: str, auth_token: str, base_url: str, timeout_s: float) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(
            account_sid,
            auth_token,
            http_client=TwilioHttpClient(timeout=timeout_s),
            environment={},
        )
        self.client.api.base_url = base_url.rstrip("/")

    def create(self, req: DialRequest, status_callback: str) -> Created | Failure:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        kwargs: dict[str, Any] = {
            "to": req.to,
            "from_": req.from_,
            "status_callback": status_callback,
            "status_callback_event": list(req.status_callback_event),
            "status_callback_method": "POST",
        }
        if req.url is not None:
            kwargs["url"] = req.url
        else:
            kwargs["twiml"] = req.twiml
        try:
            call = self.client.calls.create(**kwargs)
        except TwilioRestException as e:
            return Failure(int(e.status), e.code, str(e.msg or ""))
        except requests.exceptions.ConnectTimeout as e:
            return Failure(0, "connect-failed", _short(e), sent=False)
        except requests.exceptions.ConnectionError as e:
            if _never_connected(e):
                return Failure(0, "connect-failed", _short(e), sent=False)
            return Failure(0, "connection-lost", _short(e))
        except requests.exceptions.Timeout as e:
            return Failure(0, "timeout", _short(e))
        except (requests.exceptions.RequestException, TwilioException, ValueError) as e:
            return Failure(0, "unreadable-answer", _short(e))
        sid = getattr(call, "sid", None)
        return Created(sid if isinstance(sid, str) else None, getattr(call, "status", None))

    def find(self, to: str, from_: str) -> list[FoundCall]:
        """The most recent calls (at most 50) from ``from_`` to ``to``."""
        calls = self.client.calls.list(to=to, from_=from_, limit=50)
        out: list[FoundCall] = []
        for c in calls:
            created = c.date_created
            out.append(
                FoundCall(
                    sid=c.sid,
                    to=c.to,
                    from_=getattr(c, "_from", None),
                    date_created=created.timestamp() if isinstance(created, datetime) else None,
                )
            )
        return out


def _never_connected(e: Exception) -> bool:
    """Whether a ConnectionError happened before the request could leave (refused, DNS)."""
    import urllib3.exceptions

    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        reason = getattr(cur, "reason", None)
        if isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, urllib3.exceptions.MaxRetryError) and isinstance(
                arg.reason, urllib3.exceptions.NewConnectionError
            ):
                return True
        cur = cur.__cause__ or cur.__context__
    return False


def _short(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    return text if len(text) <= 300 else text[:297] + "..."
