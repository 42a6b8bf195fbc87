"""The pure core: interpret callback records and fold a call's events into its state.

Plain data in, plain data out: no Kafka, no SQLite, no clock. The status rule:

* an event is identified by (CallSid, SequenceNumber); of several copies the one first in
  the log (lowest (partition, offset)) is kept and the others count for nothing;
* once any terminal event is known the status is terminal; if the log holds two different
  terminal events for one call, the first in the log wins;
* otherwise the status is that of the event with the highest SequenceNumber.

Every other column is chosen by an order-free rule as well (minimum, maximum, or "taken from
the winning terminal event"), so a call's row is a function of the *set* of its events.
:func:`fold` computes it from scratch; :func:`merge` adds new events to a row already
computed and gives the same answer, or ``None`` when it cannot be sure (the caller then folds
from scratch).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from callstream.callstatus import CALLBACK_STATUSES, TERMINAL
from callstream.envelope import SCHEMA_VERSION, EnvelopeError, decode

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
EVENT_COLUMNS = (
    "call_sid",
    "sequence_number",
    "status",
    "timestamp",
    "received_at",
    "partition",
    "offset",
    "params",
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
MAX_SEQUENCE = 2**62

Row = dict[str, Any]
Position = tuple[int, int]  # (partition, offset)


@dataclass(slots=True)
class Event:
    """One interpreted callback, with its place in the log."""

    call_sid: str
    sequence_number: int
    status: str
    timestamp: str | None  # ISO 8601 UTC from the callback's own Timestamp
    received_at: str
    partition: int
    offset: int
    params: str  # the callback's parameters as compact JSON, exactly as received
    account_sid: str | None = None
    parent_call_sid: str | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    call_duration_s: int | None = None
    billed_minutes: int | None = None
    sip_response_code: int | None = None
    answered_by: str | None = None

    @property
    def position(self) -> Position:
        return (self.partition, self.offset)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def row(self) -> tuple[Any, ...]:
        """The ``call_events`` row, in :data:`EVENT_COLUMNS` order."""
        return (
            self.call_sid,
            self.sequence_number,
            self.status,
            self.timestamp,
            self.received_at,
            self.partition,
            self.offset,
            self.params,
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the projector cannot interpret, kept with the reason and its offset."""

    partition: int
    offset: int
    reason: str
    call_sid: str | None
    received_at: str | None
    value: str | None  # the record's value as text (lossy for non-UTF-8 bytes)


# -- interpretation --------------------------------------------------------------------

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


_ENCODE_PARAMS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_USED = (
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

_ABSENT = ("",) * len(_USED)  # what a parameter the record lacks reads as
_STR = frozenset({str})
# how callstream.envelope.encode begins a record
_HEAD = f'{{"v":{SCHEMA_VERSION},"received_at":'


# C: (value, end) of the JSON value that starts at an index; StopIteration when none does
# (typeshed does not declare the instance attribute)
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _own_layout(text: str) -> tuple[str, list[Any], str] | None:
    """(received_at, params, the params' text), when ``text`` is laid out exactly as
    :func:`callstream.envelope.encode` writes it; ``None`` for any other layout.

    Walking the known keys in their order parses each value once and yields the params
    array's own text, which is stored as is instead of being encoded again (that encoding
    was 40 % of :func:`interpret`). Whatever does not match exactly (other key orders,
    whitespace between keys, more keys, another version) goes the general way. Both ways
    read the same fields and parameters; this one keeps the array's own spelling, which for
    every record ingest writes is the compact JSON the general way produces.
    """
    if not text.startswith(_HEAD):
        return None
    try:
        received_at, i = _scan(text, len(_HEAD))
        if not text.startswith(',"method":', i):
            return None
        method, i = _scan(text, i + 10)
        if not text.startswith(',"url":', i):
            return None
        url, i = _scan(text, i + 7)
        if not text.startswith(',"params":', i):
            return None
        start = i + 10
        params, end = _scan(text, start)
        if not text.startswith(',"idempotency_token":', end):
            return None
        tok, i = _scan(text, end + 21)
    except (StopIteration, ValueError, RecursionError):  # not JSON there
        return None
    if (
        i != len(text) - 1
        or text[i] != "}"
        or type(received_at) is not str
        or type(method) is not str
        or type(url) is not str
        or type(params) is not list
        or (tok is not None and type(tok) is not str)
    ):
        return None
    return received_at, params, text[start:end]


def _envelope(value: bytes | str | None) -> tuple[str, list[Any], dict[str, str], str] | str:
    """(received_at, params, first value of each parameter, the params as JSON text), or
    the reason it is malformed."""
    if type(value) is bytes:
        try:
            got = _own_envelope(value.decode("utf-8"))
        except UnicodeDecodeError:
            got = None
        if got is not None:
            return got
    return _any_envelope(value)


def _own_envelope(text: str) -> tuple[str, list[Any], dict[str, str], str] | None:
    own = _own_layout(text)
    if own is None:
        return None
    received_at, params, params_text = own
    try:
        first = _first_values(params)
    except (ValueError, TypeError):  # not [name, value] pairs
        return None
    return None if first is None else (received_at, params, first, params_text)


def _first_values(params: list[Any]) -> dict[str, str] | None:
    """The first value of each parameter, or ``None`` when one the projector reads is not a
    string (a JSON null included: absent is not null). Raises ValueError or TypeError when
    ``params`` is not a list of pairs."""
    first: dict[str, str] = dict(reversed(params))
    return first if set(map(type, map(first.get, _USED, _ABSENT))) <= _STR else None


def _any_envelope(value: bytes | str | None) -> tuple[str, list[Any], dict[str, str], str] | str:
    """:func:`_envelope` for a record of any layout.

    The hot path checks the envelope's shape and the type of every parameter the projector
    reads, in a few C-level calls; anything odd goes through :func:`callstream.envelope.decode`
    for its exact verdict and message.
    """
    try:
        obj = json.loads(value) if value is not None else None
        if type(obj) is dict and obj.get("v") == SCHEMA_VERSION:
            params, received_at = obj.get("params"), obj.get("received_at")
            tok = obj.get("idempotency_token")
            if (
                type(params) is list
                and type(received_at) is str
                and type(obj.get("method")) is str
                and type(obj.get("url")) is str
                and (tok is None or type(tok) is str)
            ):
                first = _first_values(params)
                if first is not None:
                    return received_at, params, first, _ENCODE_PARAMS(params)
    except (ValueError, TypeError, RecursionError):  # Recursion: nested too deep
        pass
    try:
        env = decode(value)
    except EnvelopeError as e:
        return f"malformed-envelope: {e}"
    pairs = [list(p) for p in env.params]
    return env.received_at, pairs, dict(reversed(env.params)), _ENCODE_PARAMS(pairs)


def interpret(value: bytes | str | None, partition: int, offset: int) -> Event | Rejected:
    """Turn one record of the callback topic into an :class:`Event`, or say why not."""
    got = _envelope(value)
    if isinstance(got, str):
        return Rejected(partition, offset, got, None, None, _text(value))
    received_at, _, first, params_text = got
    call_sid = first.get("CallSid", "").strip()
    if not call_sid:
        return Rejected(partition, offset, "no-call-sid", None, received_at, _text(value))
    raw_seq = first.get("SequenceNumber")
    if raw_seq is None:
        return Rejected(
            partition, offset, "no-sequence-number", call_sid, received_at, _text(value)
        )
    seq = _int_or_none(raw_seq)
    if seq is None or seq < 0 or seq > MAX_SEQUENCE:
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


def event_from_stored(row: Mapping[str, Any]) -> Event:
    """Rebuild an :class:`Event` from its ``call_events`` row (for a full re-fold)."""
    params = json.loads(row["params"])
    rec = {
        "v": 1,
        "received_at": row["received_at"] or "",
        "method": "POST",
        "url": "",
        "params": params,
        "idempotency_token": None,
    }
    ev = interpret(json.dumps(rec), row["partition"], row["offset"])
    if isinstance(ev, Rejected):  # cannot happen for a row we stored ourselves
        raise ValueError(f"stored event cannot be read again: {ev.reason}")
    return ev


def _text(value: bytes | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "replace")


# -- folding ---------------------------------------------------------------------------


def distinct(events: Iterable[Event]) -> dict[int, Event]:
    """One event per SequenceNumber: the copy first in the log."""
    out: dict[int, Event] = {}
    for e in events:
        cur = out.get(e.sequence_number)
        if cur is None or e.position < cur.position:
            out[e.sequence_number] = e
    return out


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
    out = dict(row) if row is not None else None
    seen = dict(stored)
    terminal_pos = min((pos for st, pos in stored.values() if st in TERMINAL), default=None)
    for e in distinct(new).values():
        have = seen.get(e.sequence_number)
        if have is not None:
            if e.position < have[1]:
                return None  # replaces the stored copy: its contributions cannot be undone
            continue  # a duplicate: counts for nothing
        if out is None:
            out = empty_row(e.call_sid)
        seen[e.sequence_number] = (e.status, e.position)
        out["events_count"] += 1
        last = out["last_sequence_number"]
        if last is None or e.sequence_number > last:
            out["last_sequence_number"] = e.sequence_number
            if terminal_pos is None and not e.terminal:
                out["status"] = e.status
        if e.terminal and (terminal_pos is None or e.position < terminal_pos):
            terminal_pos = e.position
            out["status"] = e.status
            out["ended_at"] = e.timestamp
            for col in TERMINAL_FIELDS:
                out[col] = getattr(e, col)
        for col, _param in IDENTITY:
            v = getattr(e, col)
            if v and (out[col] is None or v > out[col]):
                out[col] = v
        stage = STAGE_OF.get(e.status)
        if stage is not None and e.timestamp and (out[stage] is None or e.timestamp < out[stage]):
            out[stage] = e.timestamp
    return out
