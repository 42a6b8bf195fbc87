"""Reads of the projected tables, shared by the HTTP API and the CLI.

Every function takes a (read-only) sqlite3 connection and returns plain JSON-ready data.
"""

# ruff: noqa: S608 - SQL here is built from constant column names and "?" placeholders only

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from typing import Any

from callstream import clients
from callstream.callstatus import DIRECTIONS
from callstream.digits import ascii_count
from callstream.ids import is_account_sid
from projector.events import EVENT_COLUMNS
from projector.fold import CALL_COLUMNS, KNOWN_STATUSES

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_COLS = ", ".join(f'"{c}"' for c in CALL_COLUMNS)
_EV_COLS = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)


class QueryError(ValueError):
    """A bad query parameter: ``code`` for the JSON error, the message for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _call(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(CALL_COLUMNS, row, strict=True))


def get_call(conn: sqlite3.Connection, call_sid: str) -> dict[str, Any] | None:
    """The ``calls`` row with ``events`` (by sequence number) and ``children``; None if unknown."""
    row = conn.execute(f"SELECT {_COLS} FROM calls WHERE call_sid = ?", (call_sid,)).fetchone()
    if row is None:
        return None
    out = _call(row)
    events = []
    for r in conn.execute(
        f"SELECT {_EV_COLS} FROM call_events WHERE call_sid = ? ORDER BY sequence_number",
        (call_sid,),
    ):
        e = dict(zip(EVENT_COLUMNS, r, strict=True))
        e["params"] = json.loads(e["params"])
        del e["call_sid"]
        events.append(e)
    out["events"] = events
    out["children"] = [
        r[0]
        for r in conn.execute(
            "SELECT call_sid FROM calls WHERE parent_call_sid = ? ORDER BY call_sid", (call_sid,)
        )
    ]
    return out


# -- listing with an opaque, stable cursor ------------------------------------------------


def _tag(filters: tuple[str | None, ...], after: str) -> str:
    raw = json.dumps([list(filters), after]).encode()
    return hashlib.sha256(b"callstream-cursor-v1" + raw).hexdigest()[:12]


def make_cursor(filters: tuple[str | None, ...], after: str) -> str:
    body = json.dumps({"a": after, "t": _tag(filters, after)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def read_cursor(filters: tuple[str | None, ...], cursor: str) -> str:
    """The CallSid after which the page starts; QueryError for a cursor not issued by us
    (or issued for other filters)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        obj = json.loads(raw)
        after, tag = obj["a"], obj["t"]
        if not isinstance(after, str) or tag != _tag(filters, after):
            raise ValueError("tag")
    except (ValueError, KeyError, TypeError, RecursionError):  # Recursion: nested too deep
        raise QueryError(
            "bad-cursor", "cursor was not issued by this API for these filters"
        ) from None
    return after


def parse_count(raw: str, name: str, max_digits: int = 9) -> int:
    """A non-negative integer written in ASCII digits, at most ``max_digits`` of them
    (:func:`callstream.digits.ascii_count`)."""
    value = ascii_count(raw, max_digits)
    if value is None:
        raise QueryError(
            f"bad-{name}",
            f"{name} must be a whole number of at most {max_digits} digits (0-9), not {raw[:20]!r}",
        )
    return value


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    n = parse_count(raw, "limit")
    if n < 1:
        raise QueryError("bad-limit", f"limit must be a positive integer, not {raw[:20]!r}")
    return min(n, MAX_LIMIT)


def check_filters(status: str | None, direction: str | None) -> None:
    if status is not None and status not in KNOWN_STATUSES:
        raise QueryError(
            "bad-status", f"unknown status {status[:40]!r}; one of: " + ", ".join(KNOWN_STATUSES)
        )
    if direction is not None and direction not in DIRECTIONS:
        raise QueryError(
            "bad-direction",
            f"unknown direction {direction[:40]!r}; one of: " + ", ".join(DIRECTIONS),
        )


def check_client(client: str | None) -> None:
    if client is not None and not clients.is_identity(client):
        raise QueryError(
            "bad-client",
            f"client must be a Voice SDK identity (letters, digits, _ . - @), not {client[:40]!r}",
        )


def check_account(account: str | None) -> None:
    if account is not None and not is_account_sid(account):
        raise QueryError(
            "bad-account",
            f"account must be an account SID ('AC' and 32 hex digits), not {account[:40]!r}",
        )


def _client_where(client: str | None, where: list[str], args: list[Any]) -> None:
    """Calls where ``client:NAME`` is either party."""
    if client is not None:
        where.append("(from_number = ? OR to_number = ?)")
        args.extend([clients.address(client)] * 2)


def _account_where(account: str | None, where: list[str], args: list[Any]) -> None:
    """Calls of one account (a subaccount is an account of its own: its calls carry its SID)."""
    if account is not None:
        where.append("account_sid = ?")
        args.append(account)


def list_calls(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    direction: str | None = None,
    parent: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    client: str | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    """``{"calls": [...], "next_cursor": str | None}``, in CallSid order (stable while the
    projector writes: a row never moves, so a page never repeats or skips a call).
    ``client``: only calls where ``client:NAME`` is the caller or the called party;
    ``account``: only calls of that AccountSid."""
    check_filters(status, direction)
    check_client(client)
    check_account(account)
    # client and account join the cursor's tag only when given, so older cursors stay valid
    filters = (status, direction, parent) + ((client,) if client is not None else ())
    filters += ("account", account) if account is not None else ()
    where: list[str] = []
    args: list[Any] = []
    for col, val in (("status", status), ("direction", direction), ("parent_call_sid", parent)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    _client_where(client, where, args)
    _account_where(account, where, args)
    if cursor:
        where.append("call_sid > ?")
        args.append(read_cursor(filters, cursor))
    sql = f"SELECT {_COLS} FROM calls"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY call_sid LIMIT ?"
    rows = [_call(r) for r in conn.execute(sql, [*args, limit + 1])]
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = make_cursor(filters, rows[-1]["call_sid"])
    return {"calls": rows, "next_cursor": nxt}


def stats(conn: sqlite3.Connection, account: str | None = None) -> dict[str, Any]:
    """Counts and means over all calls, or over one account's (``account``). ``by_account``
    counts calls per AccountSid; ``rejected_events`` is never per account (a rejected
    record may name none)."""
    check_account(account)
    where, args = ("WHERE account_sid = ?", [account]) if account is not None else ("", [])
    also = where.replace("WHERE", "AND") if where else ""
    by_status = dict(
        conn.execute(
            f"SELECT status, COUNT(*) FROM calls {where} GROUP BY status ORDER BY status", args
        ).fetchall()
    )
    total = sum(by_status.values())
    ended = sum(
        v
        for k, v in by_status.items()
        if k in ("completed", "busy", "failed", "no-answer", "canceled")
    )
    answered = conn.execute(
        "SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL AND "
        f"(answered_at IS NOT NULL OR status = 'completed') {also}",
        args,
    ).fetchone()[0]
    ring, talk = conn.execute(
        "SELECT AVG((julianday(COALESCE(answered_at, ended_at)) - julianday(ringing_at))"
        " * 86400.0) FILTER (WHERE ringing_at IS NOT NULL"
        " AND COALESCE(answered_at, ended_at) IS NOT NULL),"
        " AVG(call_duration_s) FILTER (WHERE status = 'completed')"
        f" FROM calls {where}",
        args,
    ).fetchone()
    by_direction = dict(
        conn.execute(
            "SELECT COALESCE(direction, 'unknown'), COUNT(*) FROM calls"
            f" {where} GROUP BY 1 ORDER BY 1",
            args,
        ).fetchall()
    )
    by_account = dict(
        conn.execute(
            "SELECT COALESCE(account_sid, 'unknown'), COUNT(*) FROM calls"
            f" {where} GROUP BY 1 ORDER BY 1",
            args,
        ).fetchall()
    )
    if account is None:
        events = conn.execute("SELECT COUNT(*) FROM call_events").fetchone()[0]
    else:
        events = conn.execute(
            "SELECT COUNT(*) FROM call_events WHERE call_sid IN"
            " (SELECT call_sid FROM calls WHERE account_sid = ?)",
            args,
        ).fetchone()[0]
    rejected = conn.execute("SELECT COUNT(*) FROM rejected_events").fetchone()[0]
    return {
        "calls": total,
        "by_status": by_status,
        "by_direction": by_direction,
        "by_account": by_account,
        "ended": ended,
        "answer_rate": round(answered / ended, 4) if ended else None,
        "mean_ring_s": round(ring, 3) if ring is not None else None,
        "mean_talk_s": round(talk, 3) if talk is not None else None,
        "events": events,
        "rejected_events": rejected,
    }


def recent_calls(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    limit: int = 20,
    client: str | None = None,
    account: str | None = None,
) -> list[dict[str, Any]]:
    """The calls whose latest stage is most recent first (for people, not pagination)."""
    check_filters(status, None)
    check_client(client)
    check_account(account)
    sql = f"SELECT {_COLS} FROM calls"
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    _client_where(client, where, args)
    _account_where(account, where, args)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += (
        " ORDER BY COALESCE(ended_at, answered_at, ringing_at, initiated_at) DESC, call_sid LIMIT ?"
    )
    return [_call(r) for r in conn.execute(sql, [*args, limit])]
