"""Interpretation: one record of the callback topic (or one stored event row) into an
:class:`~projector.events.Event`, or a :class:`~projector.events.Rejected` with the reason.

Pure: no Kafka, no SQLite, no clock. Reading the envelope itself (its layout, the fast way
through callstream's own, the reasons a record is not an envelope) is
:func:`callstream.envelope.read`'s; this module decides what the callback's parameters
mean: which are required, how times and numbers are read, which columns they fill.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from callstream.callstatus import TERMINAL
from callstream.envelope import EnvelopeError, read
from callstream.snapshots import SEQUENCES as SNAPSHOT_SEQUENCES
from callstream.snapshots import SOURCE as SNAPSHOT_SOURCE
from projector.events import Event, Rejected

MAX_SEQUENCE = 2**62

# every parameter read below: the envelope reader checks that each is a string, if present
USED = (
    "CallSid",
    "SequenceNumber",
    "CallStatus",
    "Timestamp",
    "AccountSid",
    "ParentCallSid",
    "Direction",
    "From",
    "To",
    "CallDuration",
    "Duration",
    "SipResponseCode",
    "AnsweredBy",
)

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


@lru_cache(maxsize=4096)
def rfc2822_to_iso(value: str) -> str | None:
    """``Tue, 01 Nov 2016 01:59:13 +0000`` -> ``2016-11-01T01:59:13Z``; None if unreadable.

    Timestamps have one-second resolution, so the same strings recur: a bounded cache keeps
    this cheap without growing with the log.
    """
    from datetime import UTC, datetime, timedelta

    text = value.strip()
    if "," in text:
        text = text.split(",", 1)[1].strip()
    parts = text.split()
    try:
        if len(parts) < 4:
            return None
        day, year, clock = int(parts[0]), int(parts[2]), parts[3]
        mon = _MONTHS[parts[1][:3].title()]
        hms = [int(x) for x in clock.split(":")]
        if len(hms) == 2:
            hms.append(0)
        if len(hms) != 3:
            return None
        dt = datetime(year, mon, day, hms[0], hms[1], hms[2], tzinfo=UTC)
        zone = parts[4] if len(parts) > 4 else "+0000"
        if zone in ("GMT", "UT", "UTC", "Z", "-0000", "+0000"):
            offset = 0
        elif len(zone) == 5 and zone[0] in "+-" and zone[1:].isdigit():
            offset = (int(zone[1:3]) * 60 + int(zone[3:5])) * (1 if zone[0] == "+" else -1)
        else:
            return None
        dt -= timedelta(minutes=offset)
    except (KeyError, ValueError, OverflowError):
        return None
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    v = value.strip()
    if not v or len(v) > 18:
        return None
    try:
        return int(v)
    except ValueError:
        return None


def interpret(value: bytes | str | None, partition: int, offset: int) -> Event | Rejected:
    """Turn one record of the callback topic into an :class:`Event`, or say why not."""
    try:
        received_at, _, first, params_text = read(value, USED)
    except EnvelopeError as e:
        return Rejected(partition, offset, f"malformed-envelope: {e}", None, None, _text(value))
    return event_of(first, received_at, params_text, partition, offset, value=value)


def event_of(
    first: Mapping[str, str],
    received_at: str,
    params_text: str,
    partition: int,
    offset: int,
    *,
    value: bytes | str | None,
) -> Event | Rejected:
    """The event that a callback's parameters (``first``: the first value of each) make,
    or the reason they make none; ``value`` is the record, kept in a rejection."""
    call_sid = first.get("CallSid", "").strip()
    if not call_sid:
        return Rejected(partition, offset, "no-call-sid", None, received_at, _text(value))
    raw_seq = first.get("SequenceNumber")
    if raw_seq is None:
        return Rejected(
            partition, offset, "no-sequence-number", call_sid, received_at, _text(value)
        )
    seq = _int_or_none(raw_seq)
    if seq is None or seq > MAX_SEQUENCE or (seq < 0 and not _snapshot_sequence(seq, first)):
        return Rejected(
            partition,
            offset,
            f"bad-sequence-number: {raw_seq[:40]!r}",
            call_sid,
            received_at,
            _text(value),
        )
    status = first.get("CallStatus", "").strip().lower()
    if not status:
        return Rejected(partition, offset, "no-call-status", call_sid, received_at, _text(value))
    if status == "answered":  # some Twilio-compatible services send it literally
        status = "in-progress"
    ts = first.get("Timestamp")
    if status in TERMINAL:
        ended: tuple[int | None, int | None, int | None, str | None] = (
            _int_or_none(first.get("CallDuration")),
            _int_or_none(first.get("Duration")),
            _int_or_none(first.get("SipResponseCode")),
            first.get("AnsweredBy") or None,
        )
    else:
        ended = (None, None, None, None)
    return Event(
        call_sid,
        seq,
        status,
        rfc2822_to_iso(ts) if ts else None,
        received_at,
        partition,
        offset,
        params_text,
        first.get("AccountSid") or None,
        first.get("ParentCallSid") or None,
        first.get("Direction") or None,
        first.get("From") or None,
        first.get("To") or None,
        *ended,
    )


def _snapshot_sequence(seq: int, first: Mapping[str, str]) -> bool:
    """Whether a negative SequenceNumber is a reconciler snapshot's (its reserved range, and
    only on a record that says it is one): every other negative number stays refused.
    ``CallbackSource`` is not in :data:`USED` (its type is not checked): a value that is not
    a string is simply not the snapshot mark."""
    return seq in SNAPSHOT_SEQUENCES and first.get("CallbackSource") == SNAPSHOT_SOURCE


def event_from_stored(row: Mapping[str, Any]) -> Event:
    """Rebuild an :class:`Event` from its ``call_events`` row (for a full re-fold): the same
    reading of its parameters as :func:`interpret`, and its ``params`` text as stored."""
    params = json.loads(row["params"])
    ev = event_of(
        dict(reversed(params)),
        row["received_at"] or "",
        row["params"],
        row["partition"],
        row["offset"],
        value=None,
    )
    if isinstance(ev, Rejected):  # cannot happen for a row we stored ourselves
        raise ValueError(f"stored event cannot be read again: {ev.reason}")
    return ev


def _text(value: bytes | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "replace")
