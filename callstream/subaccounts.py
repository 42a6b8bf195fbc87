"""The accounts a service knows: the configured ones and the subaccounts Twilio lists for
each of them (``GET /2010-04-01/Accounts.json`` with the parent's credentials).

:class:`AccountBook` is refreshed periodically by a daemon thread (:meth:`AccountBook.start`)
and, when a callback or a dial request names an account it does not know, once more by
:meth:`AccountBook.lookup`, at most once per ``lookup_interval_s``: a flood of made-up
AccountSids costs at most one listing per interval, never one per request. A listing that
fails keeps what the previous one found (and says so in the log, without the token).

The Twilio side is a port, ``lister``: a function from a configured account to the
subaccounts it owns. :func:`twilio_lister` is the real one, through twilio-python.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from callstream.accounts import Account, require_accounts, require_settings
from callstream.ids import is_account_sid
from callstream.settings import Settings

log = logging.getLogger("callstream.accounts")

Lister = Callable[[Account], list[Account]]
DEFAULT_LOOKUP_INTERVAL_S = 30.0
LIST_TIMEOUT_S = 5.0


class AccountBook:  # known accounts (configured + discovered), refreshed; thread-safe
    def __init__(
        self,
        configured: Iterable[Account],
        lister: Lister | None = None,
        *,
        refresh_every_s: float = 300.0,
        lookup_interval_s: float = DEFAULT_LOOKUP_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.configured = tuple(configured)
        self.lister = lister
        self.refresh_every_s = refresh_every_s
        self.lookup_interval_s = lookup_interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()  # one listing at a time
        self._by_sid: dict[str, Account] = {a.sid: a for a in self.configured}
        self._last_lookup_refresh: float | None = None
        self.refreshes = 0  # listings run (for tests and the log)
        self.errors: dict[str, str] = {}  # parent SID -> why its last listing failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def first(self) -> Account:
        """The default account (the shortcut's, else the file's first)."""
        return self.configured[0]

    def get(self, sid: str) -> Account | None:  # known and active
        with self._lock:
            acct = self._by_sid.get(sid)
        return acct if acct is not None and acct.status == "active" else None

    def known(self, sid: str) -> Account | None:
        """The account whatever its status (to tell a closed one from an unknown one)."""
        with self._lock:
            return self._by_sid.get(sid)

    def parent(self, acct: Account) -> Account | None:
        return None if acct.parent_sid is None else self.get(acct.parent_sid)

    def signers(self, acct: Account) -> list[Account]:
        """The accounts whose tokens may sign a webhook of ``acct``: itself and, for a
        subaccount, its active parent (Twilio signs with the token of the account that owns
        the call; whoever holds the parent's token controls the subaccount anyway)."""
        parent = self.parent(acct)
        return [acct] if parent is None else [acct, parent]

    def lookup(self, sid: str) -> Account | None:  # get(), else a rate-limited refresh, then get()
        acct = self.get(sid)
        if acct is not None or self.lister is None or not is_account_sid(sid):
            return acct
        if self.known(sid) is not None:
            return None  # known but closed or suspended: a listing would not change that soon
        with self._lock:
            now = self.clock()
            last = self._last_lookup_refresh
            if last is not None and now - last < self.lookup_interval_s:
                return None
            self._last_lookup_refresh = now
        log.info("unknown account named; listing subaccounts", extra={"account_sid": sid})
        self.refresh()
        return self.get(sid)

    def may_list(self) -> bool:
        """Whether :meth:`lookup` of an unknown SID would list now (not rate-limited):
        callers on an event loop hop to a thread only then."""
        if self.lister is None:
            return False
        with self._lock:
            last = self._last_lookup_refresh
            return last is None or self.clock() - last >= self.lookup_interval_s

    def lookup_in_background(self, sid: str) -> threading.Event:
        """:meth:`lookup` in a daemon thread, for a caller that must not block (the
        dialer's loop); the event is set once it is done (at once when rate-limited)."""
        done = threading.Event()
        if not self.may_list() or self.get(sid) is not None:
            done.set()
            return done

        def run() -> None:
            try:
                self.lookup(sid)
            finally:
                done.set()

        threading.Thread(target=run, name="accounts-lookup", daemon=True).start()
        return done

    def all(self) -> list[Account]:
        with self._lock:
            return list(self._by_sid.values())

    def refresh(self) -> None:
        """List the subaccounts of every configured account and replace the discovered
        ones; an account whose listing fails keeps its previous subaccounts."""
        if self.lister is None:
            return
        with self._refresh_lock:
            found: dict[str, Account] = {}
            failed: set[str] = set()
            for parent in self.configured:
                try:
                    subs = self.lister(parent)
                except Exception as e:  # a listing must never take the service down
                    failed.add(parent.sid)
                    self.errors[parent.sid] = _no_secret(e, parent)
                    log.warning(
                        "cannot list subaccounts",
                        extra={"account_sid": parent.sid, "error": self.errors[parent.sid]},
                    )
                    continue
                self.errors.pop(parent.sid, None)
                for sub in subs:
                    if sub.sid != parent.sid and sub.sid not in found:
                        found[sub.sid] = replace(sub, parent_sid=parent.sid, source="discovered")
            with self._lock:
                old = self._by_sid
                merged = {a.sid: a for a in self.configured}
                for acct in old.values():
                    if acct.source == "discovered" and acct.parent_sid in failed:
                        merged.setdefault(acct.sid, acct)
                for sid, acct in found.items():
                    if sid in merged:  # configured wins, but learns its parent
                        merged[sid] = replace(merged[sid], parent_sid=acct.parent_sid)
                    else:
                        merged[sid] = acct
                self._by_sid = merged
                self.refreshes += 1
            log.info(
                "accounts listed",
                extra={
                    "configured": len(self.configured),
                    "discovered": sum(1 for a in merged.values() if a.source == "discovered"),
                },
            )

    # -- the periodic refresh -------------------------------------------------------------
    def start(self) -> None:
        """List now in a daemon thread, then every ``refresh_every_s`` (0: never)."""
        if self.lister is None or self.refresh_every_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="accounts-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=LIST_TIMEOUT_S + 1)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.refresh_every_s)


class ListingError(Exception):
    """A listing of subaccounts failed; the message is one short line without a token."""


def _no_secret(e: BaseException, acct: Account) -> str:
    text = (str(e) if isinstance(e, ListingError) else f"{type(e).__name__}: {e}")[:300]
    for token in acct.tokens:
        text = text.replace(token, "***")
    return text


def twilio_lister(api_url: str, timeout_s: float = LIST_TIMEOUT_S) -> Lister:
    """The subaccounts of an account, through twilio-python's ``client.api.accounts``
    against ``api_url`` (``TWILIO_API_URL``)."""

    def list_subaccounts(parent: Account) -> list[Account]:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        client = account_client(parent.sid, parent.auth_token, api_url, timeout_s)
        try:
            listed = client.api.accounts.list(page_size=1000)
        except TwilioRestException as e:
            raise ListingError(f"TWILIO_API_URL {api_url} answered {e.status}: {e.msg}") from None
        except TwilioException as e:  # a page list() could not read: ('...', response)
            status = getattr(e.args[1] if len(e.args) > 1 else None, "status_code", "?")
            raise ListingError(f"TWILIO_API_URL {api_url} answered {status}") from None
        except requests.RequestException as e:
            raise ListingError(
                f"cannot reach TWILIO_API_URL {api_url} ({type(e).__name__})"
            ) from None
        out: list[Account] = []
        for a in listed:
            sid, token = getattr(a, "sid", None), getattr(a, "auth_token", None)
            if not isinstance(sid, str) or not is_account_sid(sid) or sid == parent.sid:
                continue
            if not isinstance(token, str) or not token:
                continue  # Twilio gives a subaccount's token to its parent only
            owner = getattr(a, "owner_account_sid", None)
            if isinstance(owner, str) and owner != parent.sid:
                continue
            out.append(
                Account(
                    sid,
                    token,
                    friendly_name=_str(getattr(a, "friendly_name", None)),
                    parent_sid=parent.sid,
                    source="discovered",
                    status=_str(getattr(a, "status", None)) or "active",
                )
            )
        return out

    return list_subaccounts


def account_client(
    username: str, password: str, api_url: str, timeout_s: float, account_sid: str | None = None
) -> Any:
    """A twilio-python Client whose every request goes to ``api_url``: the API domain's
    ``base_url`` is set, and an empty ``environment`` keeps ``TWILIO_EDGE``/``TWILIO_REGION``
    from rewriting the host. ``account_sid``: act on that (sub)account with a parent's
    credentials."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(
        username,
        password,
        account_sid=account_sid,
        http_client=TwilioHttpClient(timeout=timeout_s),
        environment={},
    )
    client.api.base_url = api_url.rstrip("/")
    return client


def _str(v: Any) -> str | None:
    if v is None:
        return None
    return str(v.value if hasattr(v, "value") else v)


def book_for(settings: Settings, *required: str) -> AccountBook:
    """The services' book: the configured accounts (refused when there are none, or the
    file is bad, or one of the ``required`` settings is unset), listed every
    ``CALLSTREAM_ACCOUNTS_REFRESH`` seconds when that is on."""
    require_settings(settings, *required)
    every = settings.discovery_every_s
    lister = twilio_lister(settings.twilio_api_url) if every > 0 else None
    return AccountBook(require_accounts(settings), lister, refresh_every_s=every)
