"""The dialer's ledger: record shapes and the fold that turns them into state.

The ledger of a ``dialer.requests`` partition *p* is partition *p* of ``dialer.ledger``
together with partition *p* of ``dialer.outcomes`` (the dialer writes both with an explicit
partition number, so they line up whatever the key hashing). ``dialer.ledger`` holds:

``sending``
    written (acks=all, waited for) *before* each create request, with the planned wall-clock
    ``sent_at``, the attempt number and the writer's ``owner`` id;
``retry``
    the attempt got an answer saying it was not processed (429, 5xx with no call found);
``abandoned``
    the writer did not send after all (it lost a write race on the ledger).

``dialer.outcomes`` holds the one final record per request. Everything here is pure:
plain data in, plain data out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from callstream.timefmt import iso

V = 1
SENDING = "sending"
RETRY = "retry"
ABANDONED = "abandoned"
LEDGER_TYPES = (SENDING, RETRY, ABANDONED)
RESULTS = ("created", "rejected", "in-doubt")


def parse_iso(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


# -- records -------------------------------------------------------------------------------
def sending_record(
    rid: str, account_sid: str, *, to: str, from_: str, attempt: int, sent_at: float, owner: str
) -> dict[str, Any]:
    return {
        "v": V,
        "type": SENDING,
        "id": rid,
        "account_sid": account_sid,
        "to": to,
        "from": from_,
        "attempt": attempt,
        "sent_at": iso(sent_at),
        "owner": owner,
    }


def retry_record(
    rid: str, account_sid: str, attempt: int, error: dict[str, Any], owner: str
) -> dict[str, Any]:
    return {
        "v": V,
        "type": RETRY,
        "id": rid,
        "account_sid": account_sid,
        "attempt": attempt,
        "error": error,
        "owner": owner,
    }


def abandoned_record(rid: str, account_sid: str, attempt: int, owner: str) -> dict[str, Any]:
    return {
        "v": V,
        "type": ABANDONED,
        "id": rid,
        "account_sid": account_sid,
        "attempt": attempt,
        "owner": owner,
    }


def outcome_record(
    rid: str,
    account_sid: str,
    *,
    result: str,
    call_sid: str | None,
    sent_at: float | None,
    error: dict[str, Any] | None,
    attempts: int,
    **extra: Any,
) -> dict[str, Any]:
    """The contract's outcome shape plus ``account_sid``, ``attempts``, ``answered_at``
    (when the last answer came back) and, for in-doubt outcomes, ``reconciliation`` and
    ``candidates`` (extensions)."""
    if result not in RESULTS:
        raise ValueError(f"unknown result {result!r}")
    return {
        "v": V,
        "id": rid,
        "call_sid": call_sid,
        "sent_at": iso(sent_at) if sent_at is not None else None,
        "result": result,
        "error": error,
        "account_sid": account_sid,
        "attempts": attempts,
        **extra,
    }


# -- state ---------------------------------------------------------------------------------
class Phase(Enum):
    NEW = "new"  # never attempted
    IN_FLIGHT = "in-flight"  # a sending with nothing after it: sent, being sent, or crashed
    RETRYING = "retrying"  # last attempt was not processed; may be sent again
    DONE = "done"  # an outcome exists


@dataclass
class Entry:
    account_sid: str
    id: str
    to: str | None = None
    from_: str | None = None
    attempts: int = 0
    in_flight_attempt: int = 0  # attempt number of an unresolved sending, 0 if none
    sent_at: float | None = None  # wall clock of the latest sending
    owner: str | None = None
    result: str | None = None
    call_sid: str | None = None
    outcomes_seen: int = 0
    owners: set[str] = field(default_factory=set)

    @property
    def phase(self) -> Phase:
        if self.result is not None:
            return Phase.DONE
        if self.in_flight_attempt:
            return Phase.IN_FLIGHT
        if self.attempts:
            return Phase.RETRYING
        return Phase.NEW


@dataclass
class LedgerState:
    """The fold of one partition's ledger and outcomes."""

    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    last_sent: dict[str, float] = field(default_factory=dict)  # account -> wall clock
    call_sids: set[str] = field(default_factory=set)
    ignored: int = 0  # records that were not ledger/outcome records

    def get(self, account_sid: str, rid: str) -> Entry | None:
        return self.entries.get((account_sid, rid))

    def _entry(self, account_sid: str, rid: str) -> Entry:
        key = (account_sid, rid)
        e = self.entries.get(key)
        if e is None:
            e = self.entries[key] = Entry(account_sid=account_sid, id=rid)
        return e

    def _saw_send(self, account_sid: str, at: float | None) -> None:
        if at is not None and at > self.last_sent.get(account_sid, float("-inf")):
            self.last_sent[account_sid] = at

    def apply_ledger(self, obj: Any) -> None:
        """Fold one ``dialer.ledger`` record (a decoded JSON value)."""
        if not _valid(obj) or obj.get("type") not in LEDGER_TYPES:
            self.ignored += 1
            return
        attempt = obj.get("attempt")
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            self.ignored += 1
            return
        e = self._entry(obj["account_sid"], obj["id"])
        kind = obj["type"]
        if kind == SENDING:
            at = parse_iso(obj.get("sent_at"))
            self._saw_send(e.account_sid, at)
            if isinstance(obj.get("to"), str):
                e.to = obj["to"]
            if isinstance(obj.get("from"), str):
                e.from_ = obj["from"]
            if isinstance(obj.get("owner"), str):
                e.owner = obj["owner"]
                e.owners.add(obj["owner"])
            if attempt > e.attempts:
                e.attempts = attempt
                e.in_flight_attempt = attempt
                e.sent_at = at
        elif attempt >= e.in_flight_attempt:
            # retry or abandoned: that attempt is resolved without creating a call
            if attempt == e.in_flight_attempt:
                e.in_flight_attempt = 0
            e.attempts = max(e.attempts, attempt)

    def apply_outcome(self, obj: Any) -> None:
        """Fold one ``dialer.outcomes`` record."""
        if not _valid(obj) or obj.get("result") not in RESULTS:
            self.ignored += 1
            return
        e = self._entry(obj["account_sid"], obj["id"])
        e.outcomes_seen += 1
        sid = obj.get("call_sid")
        if isinstance(sid, str):
            self.call_sids.add(sid)
        self._saw_send(e.account_sid, parse_iso(obj.get("sent_at")))
        self._saw_send(e.account_sid, parse_iso(obj.get("answered_at")))
        if e.result is None:  # the first outcome in the log is the one that counts
            e.result = obj["result"]
            e.call_sid = sid if isinstance(sid, str) else None
            e.in_flight_attempt = 0


def _valid(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("v") == V
        and isinstance(obj.get("id"), str)
        and isinstance(obj.get("account_sid"), str)
    )


def decode(raw: bytes | None) -> Any:
    """A record value as JSON, or None when it is not JSON."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # Recursion: nested too deep
        return None
