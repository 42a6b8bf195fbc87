"""The pure core: fold a call's events into its ``calls`` row.

Plain data in, plain data out: no Kafka, no SQLite, no clock. The status rule:

* an event is identified by (CallSid, SequenceNumber); of several copies the one first in
  the log is kept and the others count for nothing (:func:`earlier`, the first-copy rule,
  used by everything that chooses between copies, the store's SQL included);
* once any terminal event is known the status is terminal; if the log holds two different
  terminal events for one call, the first in the log wins;
* otherwise the status is that of the event with the highest SequenceNumber.

Every other column is chosen by an order-free rule as well (minimum, maximum, or "taken from
the winning terminal event"), so a call's row is a function of the *set* of its events.
:func:`fold` computes it from scratch; :func:`merge` adds new events to a row already
computed and gives the same answer, or ``None`` when it cannot be sure; :func:`update` says
what a batch changes (merging, or folding from scratch when merge declines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callstream.callstatus import CALLBACK_STATUSES, TERMINAL
from projector.events import Event, Position

# every status a callback can carry (queued and initiated included) is a known status
KNOWN_STATUSES = CALLBACK_STATUSES
# stage column <- the CallStatus that marks it (``answered`` arrives as ``in-progress``)
STAGES = (("initiated_at", "initiated"), ("ringing_at", "ringing"), ("answered_at", "in-progress"))
STAGE_OF = {status: col for col, status in STAGES}

CALL_COLUMNS = (
    "call_sid",
    "account_sid",
    "parent_call_sid",
    "direction",
    "from_number",
    "to_number",
    "status",
    "last_sequence_number",
    "events_count",
    "initiated_at",
    "ringing_at",
    "answered_at",
    "ended_at",
    "call_duration_s",
    "billed_minutes",
    "sip_response_code",
    "answered_by",
)
# identity columns: the greatest non-empty value over the call's events (they should agree)
IDENTITY = (
    ("account_sid", "AccountSid"),
    ("parent_call_sid", "ParentCallSid"),
    ("direction", "Direction"),
    ("from_number", "From"),
    ("to_number", "To"),
)
TERMINAL_FIELDS = ("call_duration_s", "billed_minutes", "sip_response_code", "answered_by")

Row = dict[str, Any]


# -- first copy wins -------------------------------------------------------------------


def earlier(a: Position, b: Position) -> bool:
    """The first-copy rule: of two copies of one event (or two terminal events of one
    call), the one at ``a`` wins over the one at ``b``: lowest partition, then offset."""
    return a < b


# The same rule as an SQL condition on the store's upsert of ``call_events`` (the new copy
# is ``excluded``, the stored one ``call_events``): written from :func:`earlier`, and
# tests/unit/projector/test_first_copy.py checks that SQLite decides as it does.
EARLIER_SQL = (
    '(excluded.partition, excluded."offset") < (call_events.partition, call_events."offset")'
)


def distinct(events: Iterable[Event]) -> dict[int, Event]:
    """One event per SequenceNumber: the copy first in the log."""
    out: dict[int, Event] = {}
    for e in events:
        cur = out.get(e.sequence_number)
        if cur is None or earlier(e.position, cur.position):
            out[e.sequence_number] = e
    return out


# -- folding ---------------------------------------------------------------------------


def empty_row(call_sid: str) -> Row:
    row: Row = dict.fromkeys(CALL_COLUMNS)
    row["call_sid"] = call_sid
    row["events_count"] = 0
    return row


def fold(events: Iterable[Event]) -> Row:
    """The ``calls`` row of one call from all its known events (at least one)."""
    evs = distinct(events)
    if not evs:
        raise ValueError("fold() needs at least one event")
    sids = {e.call_sid for e in evs.values()}
    if len(sids) != 1:
        raise ValueError(f"fold() got events of several calls: {sorted(sids)}")
    row = empty_row(sids.pop())
    last = evs[max(evs)]
    row["last_sequence_number"] = last.sequence_number
    row["events_count"] = len(evs)
    terminals = [e for e in evs.values() if e.terminal]
    if terminals:
        win = min(terminals, key=lambda e: e.position)
        row["status"] = win.status
        row["ended_at"] = win.timestamp
        for col in TERMINAL_FIELDS:
            row[col] = getattr(win, col)
    else:
        row["status"] = last.status
    for col, _param in IDENTITY:
        values = [getattr(e, col) for e in evs.values() if getattr(e, col)]
        row[col] = max(values) if values else None
    for col, status in STAGES:
        stamps = [e.timestamp for e in evs.values() if e.status == status and e.timestamp]
        row[col] = min(stamps) if stamps else None
    return row


def merge(
    row: Row | None, stored: Mapping[int, tuple[str, Position]], new: Iterable[Event]
) -> Row | None:
    """Add ``new`` events to ``row``, the fold of the call's ``stored`` events.

    ``stored`` maps each stored SequenceNumber to (status, position). Returns the row that
    :func:`fold` would give for stored + new, or None when that needs a full fold: a new
    copy of a stored event that comes earlier in the log than the stored copy.
    """
    return _merge(row, stored, distinct(new))


def _merge(
    row: Row | None, stored: Mapping[int, tuple[str, Position]], new: dict[int, Event]
) -> Row | None:
    """:func:`merge` of events already made :func:`distinct` (one per SequenceNumber, so
    none of them is a copy of another). The hot path of every batch: written out column by
    column, which halves its cost against looping over the column tables."""
    out = dict(row) if row is not None else None
    terminal_pos: Position | None = None
    for st, pos in stored.values():
        if st in TERMINAL and (terminal_pos is None or earlier(pos, terminal_pos)):
            terminal_pos = pos
    for seq, e in new.items():
        have = stored.get(seq)
        if have is not None:
            if earlier(e.position, have[1]):
                return None  # replaces the stored copy: its contributions cannot be undone
            continue  # a duplicate: counts for nothing
        if out is None:
            out = empty_row(e.call_sid)
        out["events_count"] += 1
        status, terminal = e.status, e.status in TERMINAL
        last = out["last_sequence_number"]
        if last is None or seq > last:
            out["last_sequence_number"] = seq
            if terminal_pos is None and not terminal:
                out["status"] = status
        if terminal and (terminal_pos is None or earlier(e.position, terminal_pos)):
            terminal_pos = e.position
            out["status"] = status
            out["ended_at"] = e.timestamp
            out["call_duration_s"] = e.call_duration_s
            out["billed_minutes"] = e.billed_minutes
            out["sip_response_code"] = e.sip_response_code
            out["answered_by"] = e.answered_by
        # IDENTITY: the greatest non-empty value
        if (v := e.account_sid) and (out["account_sid"] is None or v > out["account_sid"]):
            out["account_sid"] = v
        if (v := e.parent_call_sid) and (
            out["parent_call_sid"] is None or v > out["parent_call_sid"]
        ):
            out["parent_call_sid"] = v
        if (v := e.direction) and (out["direction"] is None or v > out["direction"]):
            out["direction"] = v
        if (v := e.from_number) and (out["from_number"] is None or v > out["from_number"]):
            out["from_number"] = v
        if (v := e.to_number) and (out["to_number"] is None or v > out["to_number"]):
            out["to_number"] = v
        stage = STAGE_OF.get(status)
        if stage is not None and (ts := e.timestamp) and (out[stage] is None or ts < out[stage]):
            out[stage] = ts
    return out


@dataclass(slots=True)
class Update:
    """What a batch changes for one call."""

    row: Row | None  # the call's new row, or None when it is unchanged
    events: list[Event]  # the call_events rows to write: new events, earlier copies
    new: int  # how many of those are events the call did not have


def update(
    row: Row | None,
    stored: Mapping[int, tuple[str, Position]],
    new: Iterable[Event],
    stored_events: Callable[[], Iterable[Event]],
) -> Update:
    """The change that ``new`` events make to a call whose row is ``row`` and whose stored
    events are ``stored`` (as for :func:`merge`); ``stored_events`` reads them whole, which
    is needed only when :func:`merge` declines."""
    evs = list(new)
    first = distinct(evs)
    out = _merge(row, stored, first)
    if out is None:
        out = fold([*stored_events(), *evs])
    writes: list[Event] = []
    added = 0
    for seq, e in first.items():
        have = stored.get(seq)
        if have is None or earlier(e.position, have[1]):
            writes.append(e)
            added += have is None
    return Update(out if out != row else None, writes, added)
