"""Pure: what the reconciler reads in a record of ``twilio.call-status`` (a callback or a
snapshot) or of ``dialer.outcomes`` (a created call). A record it cannot use gives None;
the projector keeps and reports those, so the reconciler only skips them."""

from __future__ import annotations

import json
from dataclasses import dataclass

from callstream.envelope import EnvelopeError, read
from callstream.ids import is_account_sid
from callstream.snapshots import SEQUENCES, SOURCE
from reconciler.policy import Seen

MAX_DIGITS = 18
USED = ("CallSid", "AccountSid", "CallStatus", "SequenceNumber", "CallbackSource")


def seen_of(value: bytes | None, at: float) -> Seen | None:
    """The event a callback record reports, logged at ``at``; None for a record the
    projector would refuse too."""
    try:
        _, _, first, _ = read(value, USED)
    except EnvelopeError:
        return None
    sid = first.get("CallSid", "").strip()
    status = first.get("CallStatus", "").strip().lower()
    if status == "answered":
        status = "in-progress"
    # read as the projector reads it (projector/interpret.py), so both count the same events
    raw = first.get("SequenceNumber", "").strip()
    try:
        seq = int(raw) if 0 < len(raw) <= MAX_DIGITS else None
    except ValueError:
        seq = None
    if seq is None:
        return None
    snapshot = first.get("CallbackSource") == SOURCE
    if not sid or not status or (seq < 0 and not (snapshot and seq in SEQUENCES)):
        return None
    account = first.get("AccountSid") or None
    return Seen(sid, account, status, seq, at, snapshot)


@dataclass(frozen=True, slots=True)
class Created:
    call_sid: str
    account_sid: str | None
    at: float


def created_of(value: bytes | None, at: float) -> Created | None:
    """The call a dialer outcome says was created; None for any other outcome."""
    try:
        obj = json.loads(value) if value is not None else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("result") != "created":
        return None
    sid, account = obj.get("call_sid"), obj.get("account_sid")
    if not isinstance(sid, str) or not sid:
        return None
    return Created(
        sid, account if isinstance(account, str) and is_account_sid(account) else None, at
    )
