"""Accounts and subaccounts as Twilio keeps them, and who may act on which. Pure: no I/O.

Each account has its own auth token (callbacks of its calls are signed with it) and its
own CPS queue (kept by the engine). A main account (one from the environment or
``--account``) owns itself; a subaccount is owned by the main account that created it.
Credentials reach an account's resources when they are that account's own, or its
owner's: Twilio lets a parent act on its subaccounts (``Client(parent, token,
account_sid=sub)``), never a subaccount on its parent or its siblings.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from callstream.ids import is_account_sid
from emulator import errors
from emulator.errors import TwilioError

STATUSES = ("active", "suspended", "closed")


@dataclass
class Account:
    sid: str
    auth_token: str
    friendly_name: str
    owner_account_sid: str  # its own SID for a main account
    date_created: float
    date_updated: float
    status: str = "active"
    type: str = "Full"

    @property
    def is_main(self) -> bool:
        return self.owner_account_sid == self.sid


def parse_account_flags(values: Iterable[str], main_sid: str) -> dict[str, str]:
    """``--account SID:TOKEN`` values as sid -> token. ValueError names the bad value by its
    position and, once it is known to be one, its SID; never anything that could be a token
    (a value given the wrong way round, or without its SID)."""
    out: dict[str, str] = {}
    for n, raw in enumerate(values, start=1):
        sid, sep, token = raw.partition(":")
        which = f"--account value {n}"
        if not is_account_sid(sid):
            raise ValueError(f"{which} must be SID:TOKEN, the SID 'AC' followed by 32 hex digits")
        if not sep:
            raise ValueError(f"{which} ({sid}) must be SID:TOKEN")
        if not token or not token.isprintable() or any(c.isspace() for c in token):
            raise ValueError(f"{which} ({sid}): the token must be non-empty, without spaces")
        if sid == main_sid or sid in out:
            raise ValueError(f"{which} ({sid}): this account is given twice")
        out[sid] = token
    return out


def not_active(sid: str) -> TwilioError:
    """Twilio's 20005: the account is suspended or closed."""
    return TwilioError(401, 20005, f"Account not active: {sid} is not active")


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic ...`` header; None when there is none."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class AccountBook:
    """Every account the emulator knows, main accounts first, in creation order."""

    def __init__(self, main: Mapping[str, str], created_at: float) -> None:
        self._by_sid: dict[str, Account] = {}
        for n, (sid, token) in enumerate(main.items(), start=1):
            self._add(Account(sid, token, f"Account {n}", sid, created_at, created_at))

    def _add(self, account: Account) -> Account:
        self._by_sid[account.sid] = account
        return account

    def __contains__(self, sid: object) -> bool:
        return sid in self._by_sid

    def __iter__(self) -> Iterator[Account]:
        return iter(list(self._by_sid.values()))

    def get(self, sid: str) -> Account | None:
        return self._by_sid.get(sid)

    def token_for(self, sid: str) -> str:
        return self._by_sid[sid].auth_token

    # -- authentication -----------------------------------------------------------------
    def caller(self, authorization: str) -> Account:
        """The account whose credentials the request carries: 20003 when they prove none,
        20005 when that account is suspended or closed."""
        creds = basic_credentials(authorization)
        account = self._by_sid.get(creds[0]) if creds else None
        if (
            creds is None
            or account is None
            or not hmac.compare_digest(creds[1].encode(), account.auth_token.encode())
        ):
            raise errors.authenticate()
        if account.status != "active":
            raise not_active(account.sid)
        return account

    def reachable(self, caller: Account, sid: str) -> Account:
        """The account ``sid`` when ``caller`` may act on it (itself, or one of its
        subaccounts); 20003 otherwise, as for an unknown account."""
        target = self._by_sid.get(sid)
        if target is None or caller.sid not in (target.sid, target.owner_account_sid):
            raise errors.authenticate()
        return target

    def acting_on(self, authorization: str, sid: str) -> Account:
        """For a resource of account ``sid`` (its calls): the account, which must be active."""
        target = self.reachable(self.caller(authorization), sid)
        if target.status != "active":
            raise not_active(target.sid)
        return target

    # -- the Accounts resource ---------------------------------------------------------
    def visible_to(self, caller: Account) -> list[Account]:
        """What ``GET /Accounts.json`` lists: the caller, then its subaccounts."""
        return [caller] + [
            a for a in self._by_sid.values() if a.owner_account_sid == caller.sid and not a.is_main
        ]

    def create_subaccount(
        self, owner: Account, sid: str, token: str, friendly_name: str | None, now: float
    ) -> Account:
        if not owner.is_main:
            raise TwilioError(403, 20403, "A subaccount cannot create subaccounts")
        if sid in self._by_sid:
            raise ValueError(f"duplicate account SID {sid}")
        if friendly_name:
            _check_name(friendly_name)
        name = friendly_name or f"SubAccount Created at {_stamp(now)}"
        return self._add(Account(sid, token, name, owner.sid, now, now))

    def update(
        self, caller: Account, target: Account, status: str | None, name: str | None, now: float
    ) -> None:
        """``POST /Accounts/{Sid}.json``: ``FriendlyName``, and ``Status`` of a subaccount
        by its parent. Closed is final."""
        if status is not None:
            if status not in STATUSES:
                raise errors.bad_request("Status must be one of active, suspended, closed")
            if target.is_main or caller.sid != target.owner_account_sid:
                raise TwilioError(
                    403, 20403, "Only the parent account can change a subaccount's status"
                )
            if target.status == "closed" and status != "closed":
                raise errors.bad_request(f"Account {target.sid} is closed; closing is permanent")
        if name is not None:
            _check_name(name)
            target.friendly_name = name
        if status is not None:
            target.status = status
        target.date_updated = now


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > 64:
        raise errors.bad_request("FriendlyName must be 1 to 64 characters")


def _stamp(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
