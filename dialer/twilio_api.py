"""twilio-python behind the two calls the dialer makes: create a call, find calls.

``TWILIO_API_URL`` is applied by setting the API domain's ``base_url``; every request URL
is built from it (``twilio/base/domain.py``). The client gets an empty ``environment`` so
``TWILIO_EDGE``/``TWILIO_REGION`` cannot rewrite that host.

:class:`AccountCalls` routes each request to the account it names, with that account's
credentials; a discovered subaccount is reached with its parent's credentials and its own
SID in the URL (``/2010-04-01/Accounts/{SubSid}/Calls.json``), as Twilio allows, so that
a rotation of the subaccount's token never breaks the dialer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from callstream.dialrequest import DialRequest
from callstream.subaccounts import AccountBook, account_client
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

    def find(self, to: str, from_: str, account_sid: str | None = None) -> list[FoundCall]: ...


class TwilioCalls:
    """The real thing, through twilio-python, for one account: ``account_sid`` and
    ``auth_token`` authenticate; ``subaccount_sid`` is the account acted on, when it is a
    subaccount of that one."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        base_url: str,
        timeout_s: float,
        *,
        subaccount_sid: str | None = None,
    ) -> None:
        self.client = account_client(account_sid, auth_token, base_url, timeout_s, subaccount_sid)

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

    def find(self, to: str, from_: str, account_sid: str | None = None) -> list[FoundCall]:
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


class AccountCalls:
    """:class:`CallsApi` for every account of ``book``, each with its own client."""

    def __init__(self, book: AccountBook, base_url: str, timeout_s: float) -> None:
        self.book = book
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._clients: dict[str, tuple[tuple[str, str], TwilioCalls]] = {}

    def for_account(self, sid: str) -> TwilioCalls | None:
        """The client for ``sid`` (remade when its credentials changed), or None when the
        account is not an active one of the book."""
        acct = self.book.get(sid)
        if acct is None:
            return None
        parent = self.book.parent(acct)
        creds = (parent.sid, parent.auth_token) if parent is not None else (sid, acct.auth_token)
        cached = self._clients.get(sid)
        if cached is not None and cached[0] == creds:
            return cached[1]
        calls = TwilioCalls(
            creds[0],
            creds[1],
            self.base_url,
            self.timeout_s,
            subaccount_sid=sid if parent is not None else None,
        )
        self._clients[sid] = (creds, calls)
        return calls

    def create(self, req: DialRequest, status_callback: str) -> Created | Failure:
        calls = self.for_account(req.account_sid)
        if calls is None:  # closed or suspended since the loop looked: not sent
            return Failure(0, "unknown-account", f"{req.account_sid} is not active", sent=False)
        return calls.create(req, status_callback)

    def find(self, to: str, from_: str, account_sid: str | None = None) -> list[FoundCall]:
        calls = self.for_account(account_sid or self.book.first.sid)
        if calls is None:
            raise LookupError(f"{account_sid} is not an active account")
        return calls.find(to, from_)


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
