"""What the dialer does with a request, as pure functions of what it knows: the request's
ledger entry, Twilio's answer, the attempt number, the result of a call lookup.

The loop (:mod:`dialer.loop`) performs the steps these functions name; nothing here reads a
clock, the network or Kafka.

* :func:`decide` - before a send: send, skip (it has an outcome), wait for a recent
  ``sending`` of another writer, or reconcile an old one (in doubt).
* :func:`after_answer` - after a create: finish (created, or rejected and dead-lettered),
  look the call up first (in doubt, or a 5xx that may have created it), or retry.
* :func:`after_lookup` - after a lookup: the in-doubt outcome it implies, or, for a 5xx
  whose call was not found, the retry (or, past the last attempt, the give-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from dialer.ledger import Entry, Phase
from dialer.matching import Match
from dialer.retry import Backoff, Failure, Verdict, classify


class Action(Enum):
    SEND = "send"
    SKIP = "skip"  # already has an outcome: never send again
    WAIT = "wait"  # a recent sending by someone: wait for its outcome
    RECONCILE = "reconcile"  # an old sending with no outcome: in doubt


def decide(entry: Entry | None, now_wall: float, in_doubt_after_s: float) -> tuple[Action, float]:
    """What to do with a request, given its ledger entry. The float is, for WAIT, the wall
    time until which to wait; otherwise 0."""
    if entry is None:
        return Action.SEND, 0.0
    phase = entry.phase
    if phase is Phase.DONE:
        return Action.SKIP, 0.0
    if phase is Phase.IN_FLIGHT:
        since = entry.sent_at if entry.sent_at is not None else float("-inf")
        if now_wall < since + in_doubt_after_s:
            return Action.WAIT, since + in_doubt_after_s
        return Action.RECONCILE, 0.0
    return Action.SEND, 0.0


@dataclass(frozen=True)
class Finish:
    """Write this outcome (after the dead-letter record, when ``dead_letter`` is set), then
    commit the request."""

    result: str
    call_sid: str | None
    error: dict[str, Any] | None
    dead_letter: str | None = None  # the dead-letter reason
    reconciliation: str | None = None
    candidates: tuple[str, ...] = ()

    def extra(self) -> dict[str, Any]:
        """The outcome's in-doubt extensions (none for other results)."""
        if self.reconciliation is None:
            return {}
        return {"reconciliation": self.reconciliation, "candidates": list(self.candidates)}


@dataclass(frozen=True)
class Retry:
    """Write a ``retry`` ledger record with this error, back off, send again."""

    error: dict[str, Any]


@dataclass(frozen=True)
class Lookup:
    """Look the call up (``GET /Calls``), then :func:`after_lookup`. ``failure`` is set when
    the answer was a 5xx: a call not found then means "not processed", so retry."""

    why: str
    failure: Failure | None = None


Step = Finish | Retry | Lookup


def created(call_sid: str) -> Finish:
    return Finish("created", call_sid, None)


def after_answer(
    answer_sid: str | None, failure: Failure | None, attempt: int, backoff: Backoff
) -> Step:
    """The step after attempt ``attempt`` of a create answered ``201`` (``failure`` None;
    ``answer_sid`` the call's sid, None when the answer had none) or failed."""
    if failure is None:
        if answer_sid is None:
            return Lookup("201 without a call sid")
        return created(answer_sid)
    verdict = classify(failure)
    if verdict is Verdict.REJECT:
        return give_up(failure, "rejected-by-twilio")
    if verdict is Verdict.IN_DOUBT:
        return Lookup(f"no clear answer: {failure.message}")
    if verdict is Verdict.VERIFY_THEN_RETRY:
        return Lookup(f"HTTP {failure.status} but the call may exist", failure)
    return retry_or_give_up(failure, attempt, backoff)


def retry_or_give_up(failure: Failure, attempt: int, backoff: Backoff) -> Finish | Retry:
    """A create that was not processed: send again, unless that was the last attempt."""
    if backoff.gives_up_after(attempt):
        return give_up(failure, "retries-exhausted")
    return Retry(failure.as_error())


def give_up(failure: Failure, reason: str) -> Finish:
    """Rejected with Twilio's last error; the request goes to the dead letters."""
    return Finish("rejected", None, failure.as_error(), dead_letter=reason)


def after_lookup(match: Match, why: str, failure: Failure | None) -> Finish | None:
    """The in-doubt outcome a lookup implies; None when ``failure`` (a 5xx) and no call was
    found: the create was not processed, see :func:`retry_or_give_up`."""
    if failure is not None and match.status == "not-found":
        return None
    return in_doubt(match, why)


IN_DOUBT_MESSAGES = {
    "matched": "{why}; found call {sid} with the same To and From; not sent again",
    "not-found": "{why}; no matching call found; not sent again (submit a new id to retry)",
    "ambiguous": "{why}; {n} matching calls found; not sent again",
    "unavailable": "{why}; the call list could not be read; not sent again",
}


def in_doubt(match: Match, why: str) -> Finish:
    """The one outcome of a request in doubt: it is never sent again; anything but a single
    match also goes to the dead letters."""
    template = IN_DOUBT_MESSAGES.get(match.status, IN_DOUBT_MESSAGES["unavailable"])
    msg = template.format(why=why, sid=match.sid, n=len(match.candidates))
    return Finish(
        "in-doubt",
        match.sid,
        {"code": "in-doubt", "message": msg},
        dead_letter=None if match.status == "matched" else f"in-doubt-{match.status}",
        reconciliation=match.status,
        candidates=match.candidates,
    )


def unknown_account(account_sid: str) -> Finish:
    """A request for an account this dialer does not place calls for (not configured,
    not a subaccount of a configured one, or closed or suspended)."""
    err = {
        "code": "unknown-account",
        "message": f"{account_sid} is not an active account callstream serves",
    }
    return Finish("rejected", None, err, dead_letter="unknown-account")


def malformed_error(problem: str | None) -> dict[str, Any]:
    return {"code": "invalid-request", "message": problem or "malformed"}
