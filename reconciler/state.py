"""The reconciler's own SQLite file: one row per call it tracks, and the next offset of each
partition it reads, written in the same transaction as the rows those records changed.

A restart resumes from those offsets with the tracks as they were: it neither asks about
every call again nor forgets the ones still pending.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from callstream.sqlitetx import write_transaction
from reconciler.policy import Track

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    call_sid TEXT PRIMARY KEY,
    account_sid TEXT,
    status TEXT,
    sequence INTEGER,
    last_event_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    next_ask_at REAL,
    gone INTEGER NOT NULL,
    gave_up INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tracks_due ON tracks (next_ask_at) WHERE next_ask_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""
COLUMNS = (
    "call_sid",
    "account_sid",
    "status",
    "sequence",
    "last_event_at",
    "attempts",
    "next_ask_at",
    "gone",
    "gave_up",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM tracks"  # noqa: S608 - constant column names
_UPSERT = (
    f"INSERT OR REPLACE INTO tracks ({', '.join(COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(COLUMNS))})"
)

Offsets = Mapping[tuple[str, int], int]


def _track(row: tuple[object, ...]) -> Track:
    sid, acct, status, seq, last, attempts, nxt, gone, gave_up = row
    return Track(
        str(sid),
        acct if isinstance(acct, str) else None,
        status if isinstance(status, str) else None,
        seq if isinstance(seq, int) else None,
        float(last),  # type: ignore[arg-type]
        int(attempts),  # type: ignore[call-overload]
        float(nxt) if isinstance(nxt, int | float) else None,
        bool(gone),
        bool(gave_up),
    )


def _row(t: Track) -> tuple[object, ...]:
    return (
        t.call_sid,
        t.account_sid,
        t.status,
        t.sequence,
        t.last_event_at,
        t.attempts,
        t.next_ask_at,
        int(t.gone),
        int(t.gave_up),
    )


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        # the loop's thread writes; the health endpoint's thread reads counts: one lock
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def offsets(self) -> dict[tuple[str, int], int]:
        with self.lock:
            rows = self.conn.execute("SELECT topic, partition, next_offset FROM offsets")
            return {(t, p): o for t, p, o in rows}

    def get(self, call_sid: str) -> Track | None:
        with self.lock:
            row = self.conn.execute(_SELECT + " WHERE call_sid = ?", (call_sid,)).fetchone()
        return _track(row) if row is not None else None

    def get_many(self, call_sids: Iterable[str]) -> dict[str, Track]:
        out: dict[str, Track] = {}
        sids = list(dict.fromkeys(call_sids))
        for i in range(0, len(sids), 500):
            chunk = sids[i : i + 500]
            q = _SELECT + f" WHERE call_sid IN ({', '.join('?' * len(chunk))})"
            with self.lock:
                found = self.conn.execute(q, chunk).fetchall()
            for row in found:
                t = _track(row)
                out[t.call_sid] = t
        return out

    def save(self, tracks: Iterable[Track], offsets: Offsets | None = None) -> None:
        """Write ``tracks`` and ``offsets`` in one transaction."""
        with self.lock, write_transaction(self.conn):
            self.conn.executemany(_UPSERT, [_row(t) for t in tracks])
            if offsets:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO offsets (topic, partition, next_offset) "
                    "VALUES (?, ?, ?)",
                    [(t, p, o) for (t, p), o in offsets.items()],
                )

    def due(self, now: float, limit: int) -> list[Track]:
        q = _SELECT + " WHERE next_ask_at IS NOT NULL AND next_ask_at <= ? "
        q += "ORDER BY next_ask_at LIMIT ?"
        with self.lock:
            found = self.conn.execute(q, (now, limit)).fetchall()
        return [_track(r) for r in found]

    def counts(self) -> dict[str, int]:
        """How many calls are pending, settled, gone (404) and given up."""
        with self.lock:
            row = self.conn.execute(
                "SELECT COUNT(next_ask_at), "
                "SUM(next_ask_at IS NULL AND gone = 0 AND gave_up = 0), "
                "SUM(gone), SUM(gave_up) FROM tracks"
            ).fetchone()
        return dict(
            zip(("pending", "settled", "gone", "given_up"), (int(v or 0) for v in row), strict=True)
        )
