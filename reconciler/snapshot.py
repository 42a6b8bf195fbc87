"""Pure: a REST Call resource into the parameters of a snapshot callback.

A snapshot is appended to ``twilio.call-status`` as an ordinary callback envelope, so the
projector folds it with the same rules as a callback (first copy of a (CallSid,
SequenceNumber) wins; any terminal event makes the call terminal, the first terminal in the
log winning; otherwise the highest SequenceNumber). Real callbacks number their events from
0 up; a snapshot takes a number in the reserved negative range of :mod:`callstream.snapshots`,
ordered by the status's rank:

* a terminal snapshot (-1) settles the call exactly as a terminal callback does;
* a non-terminal snapshot is below every real callback, so it never moves a call that has a
  callback backwards; among snapshots alone the later status ranks higher, so a call that
  has no callback at all moves forward only;
* two snapshots of one status share their number, so repeats count once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from callstream.callstatus import TERMINAL
from callstream.snapshots import RANK, SOURCE

__all__ = ["RANK", "SOURCE", "RestCall", "billed_minutes", "sequence_of", "snapshot_params"]
API_VERSION = "2010-04-01"


@dataclass(frozen=True, slots=True)
class RestCall:
    """The fields of Twilio's Call resource the reconciler uses; times are RFC 2822 text as
    Twilio writes them (``Tue, 01 Nov 2016 01:59:13 +0000``) or None."""

    sid: str
    account_sid: str
    status: str
    direction: str | None = None
    from_: str | None = None
    to: str | None = None
    parent_call_sid: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    date_updated: str | None = None
    duration: str | None = None  # whole seconds, as text
    answered_by: str | None = None


def sequence_of(status: str) -> int:
    """The SequenceNumber of a snapshot of ``status``; ValueError for an unknown status."""
    try:
        return RANK[status]
    except KeyError:
        raise ValueError(f"not a call status: {status!r}") from None


def billed_minutes(status: str, seconds: int) -> int:
    """``Duration`` of a callback: whole minutes rounded up, at least one for a completed
    (connected) call, 0 for the other outcomes."""
    if status != "completed":
        return 0
    return max(1, math.ceil(seconds / 60))


def _seconds(text: str | None) -> int:
    try:
        return max(0, int(text)) if text is not None else 0
    except ValueError:
        return 0


def snapshot_params(call: RestCall) -> list[tuple[str, str]]:
    """The callback parameters that say what ``call`` says (mapping in
    docs/reconciliation.md). Raises ValueError when its status is not a call status."""
    status = call.status.strip().lower()
    seq = sequence_of(status)
    terminal = status in TERMINAL
    params: list[tuple[str, str]] = [
        ("AccountSid", call.account_sid),
        ("CallSid", call.sid),
        ("CallStatus", status),
        ("ApiVersion", API_VERSION),
    ]
    for name, value in (
        ("Direction", call.direction),
        ("From", call.from_),
        ("Caller", call.from_),
        ("To", call.to),
        ("Called", call.to),
        ("ParentCallSid", call.parent_call_sid),
    ):
        if value:
            params.append((name, value))
    # The event time: when the call ended for a terminal snapshot; else when the resource
    # last changed (never before the change it reports, so the projector's stage columns,
    # the earliest time of each stage, are not moved earlier than the truth).
    stamp = (call.end_time if terminal else None) or call.date_updated
    if stamp:
        params.append(("Timestamp", stamp))
    params += [("CallbackSource", SOURCE), ("SequenceNumber", str(seq))]
    if call.answered_by:
        params.append(("AnsweredBy", call.answered_by))
    if terminal:
        seconds = _seconds(call.duration)
        params += [
            ("CallDuration", str(seconds)),
            ("Duration", str(billed_minutes(status, seconds))),
        ]
    # Not callback parameters; kept so the event row shows what REST said.
    if call.start_time:
        params.append(("StartTime", call.start_time))
    if call.end_time:
        params.append(("EndTime", call.end_time))
    return params
