"""Recording batches of callback records in the SQLite tables.

One call of :meth:`Store.apply` is one SQLite transaction: the new ``call_events`` rows, the
recomputed ``calls`` rows, the ``rejected_events`` rows and the ``projector_offsets`` of every
partition the batch covers commit together or not at all. A crash at any moment therefore
leaves tables and offsets in agreement, and consuming again from the stored offsets gives
the same rows as a run that never crashed.

The store only reads and writes: what a record means is :mod:`projector.interpret`'s, what a
batch holds :mod:`projector.batch`'s, and which rows change :mod:`projector.fold`'s (its
first-copy rule is also the condition of the ``call_events`` upsert, :data:`EARLIER_SQL`).
What it last wrote for calls in flight it remembers in a :class:`~projector.cache.CallCache`
(taken over only once the transaction committed), so most records need no read of SQLite.
"""

# ruff: noqa: S608 - every SQL string here is built from constant column names only

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from callstream.sqlitetx import write_transaction
from projector import fold, schema
from projector.batch import Batch, Record, plan
from projector.cache import CallCache, CallState
from projector.events import EVENT_COLUMNS, Event, Position
from projector.fold import CALL_COLUMNS, EARLIER_SQL, Row
from projector.interpret import event_from_stored

_CHUNK = 500  # SQL variables per IN (...) list


def _q(cols: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


_INSERT_CALL = (
    f"INSERT INTO calls ({_q(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
)


@lru_cache(maxsize=256)
def _update_call(cols: tuple[str, ...]) -> str:
    """An UPDATE of only ``cols``: SQLite then maintains only the indexes on those columns
    (the calls table has five besides its key), where setting every column rewrote them all
    for every event. The few column sets that occur keep their statements prepared."""
    return f"UPDATE calls SET {', '.join(f'{_q((c,))} = ?' for c in cols)} WHERE call_sid = ?"


# Of two copies of an event the row keeps the one first in the log, whatever the order in
# which they are applied: fold's first-copy rule, as SQL.
_UPSERT_EVENT = (
    f"INSERT INTO call_events ({_q(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))}) "
    "ON CONFLICT(call_sid, sequence_number) DO UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in EVENT_COLUMNS[2:])
    + f" WHERE {EARLIER_SQL}"
)
_INSERT_REJECTED = (
    'INSERT OR IGNORE INTO rejected_events (topic, partition, "offset", reason, call_sid, '
    "received_at, value) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_OFFSET = (
    "INSERT INTO projector_offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
    "ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset "
    "WHERE excluded.next_offset > projector_offsets.next_offset"
)


_UPSERT_FINGERPRINT = (
    'INSERT INTO projector_fingerprints (topic, partition, "offset", fingerprint) '
    "VALUES (?, ?, ?, ?) ON CONFLICT(topic, partition) DO UPDATE SET "
    '"offset" = excluded."offset", fingerprint = excluded.fingerprint '
    'WHERE excluded."offset" > projector_fingerprints."offset"'
)


@dataclass
class BatchResult:
    records: int = 0
    events: int = 0  # new distinct events
    rejected: int = 0
    calls_written: int = 0
    newest_received_at: str | None = None


class Store:
    """The writer: one connection, WAL, schema checked and migrated on open."""

    def __init__(self, path: Path | str, topic: str, cache: CallCache | None = None) -> None:
        """``cache``: the calls to remember (a default-sized one when None; ``CallCache(0)``
        remembers nothing and reads every call from SQLite)."""
        self.path = Path(path)
        self.topic = topic
        self.db = schema.open_db(self.path)
        self.conn = self.db.conn
        self.cache = CallCache() if cache is None else cache
        self._data_version: int | None = None

    def close(self) -> None:
        self.db.close()

    # -- offsets ------------------------------------------------------------------------
    def offsets(self) -> dict[int, int]:
        """The next offset to consume, per partition of this store's topic."""
        rows = self.conn.execute(
            "SELECT partition, next_offset FROM projector_offsets WHERE topic = ?", (self.topic,)
        )
        return {int(p): int(o) for p, o in rows}

    def topic_id(self) -> str | None:
        """The id of the topic the stored offsets belong to, once it was seen."""
        row = self.conn.execute(
            "SELECT topic_id FROM projector_topics WHERE topic = ?", (self.topic,)
        ).fetchone()
        return None if row is None else str(row[0])

    def remember_topic_id(self, topic_id: str) -> None:
        with write_transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO projector_topics (topic, topic_id) VALUES (?, ?)",
                (self.topic, topic_id),
            )

    def fingerprints(self) -> dict[int, tuple[int, str]]:
        """Per partition: the offset of the last applied record and its fingerprint."""
        rows = self.conn.execute(
            'SELECT partition, "offset", fingerprint FROM projector_fingerprints WHERE topic = ?',
            (self.topic,),
        )
        return {int(p): (int(o), str(f)) for p, o, f in rows}

    def other_topics(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT topic FROM projector_offsets WHERE topic != ?", (self.topic,)
        )
        return [r[0] for r in rows]

    # -- applying -----------------------------------------------------------------------
    def apply(self, records: Iterable[Record]) -> BatchResult:
        """Interpret and apply one batch in one transaction."""
        return self.record(plan(records))

    def record(self, batch: Batch) -> BatchResult:
        """Record one planned batch in one transaction."""
        res = BatchResult(records=batch.records, newest_received_at=batch.newest_received_at)
        if not batch.records:
            return res
        states: dict[str, CallState] = {}
        try:
            with write_transaction(self.conn):
                self._check_other_writers()
                self._record_events(batch.events, res, states)
                self._record_rest(batch, res)
        except BaseException:
            # rolled back (or unknown): nothing this batch saw may outlive it
            self.cache.clear()
            raise
        try:
            self.cache.commit(states, batch.records)
        except BaseException:  # half taken over (MemoryError, say): trust none of it
            self.cache.clear()
            raise
        return res

    def _check_other_writers(self) -> None:
        """Forget the cache when another connection committed since this one last wrote.

        ``PRAGMA data_version`` changes only for other connections' commits; read under the
        write lock (``BEGIN IMMEDIATE``), nobody can commit between this and our commit."""
        version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        if version != self._data_version:
            self.cache.clear()
            self._data_version = version

    def _record_rest(self, batch: Batch, res: BatchResult) -> None:
        """The rejections, offsets and fingerprints of the batch."""
        if batch.rejected:
            self.conn.executemany(
                _INSERT_REJECTED,
                [
                    (
                        self.topic,
                        r.partition,
                        r.offset,
                        r.reason,
                        r.call_sid,
                        r.received_at,
                        r.value,
                    )
                    for r in batch.rejected
                ],
            )
            res.rejected = len(batch.rejected)
        positions = batch.positions()
        self.conn.executemany(_UPSERT_OFFSET, [(self.topic, p, o) for p, o, _ in positions])
        self.conn.executemany(
            _UPSERT_FINGERPRINT, [(self.topic, p, o - 1, f) for p, o, f in positions]
        )

    def _record_events(
        self, events: dict[str, list[Event]], res: BatchResult, out: dict[str, CallState]
    ) -> None:
        """Write the batch's events and the calls rows they change; put each call's state
        after this batch in ``out`` (for the cache, once committed)."""
        if not events:
            return
        before = self._states(list(events))
        inserts: list[tuple[Any, ...]] = []
        updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        event_rows: list[tuple[Any, ...]] = []
        for sid, evs in events.items():
            st = before[sid]
            row, stored = st.row, st.stored
            change = fold.update(row, stored, evs, partial(self._stored_events, sid))
            if change.events:
                stored = dict(stored)
                for e in change.events:
                    event_rows.append(e.row())
                    stored[e.sequence_number] = (e.status, e.position)
            res.events += change.new
            new = change.row
            if new is not None:
                if row is None:
                    inserts.append(tuple(new[c] for c in CALL_COLUMNS))
                else:
                    cols = tuple(c for c in CALL_COLUMNS if new[c] != row[c])
                    updates.setdefault(cols, []).append((*(new[c] for c in cols), sid))
                row = new
            out[sid] = CallState(row, stored)
        if event_rows:
            self.conn.executemany(_UPSERT_EVENT, event_rows)
        if inserts:
            self.conn.executemany(_INSERT_CALL, inserts)
        for cols, values in updates.items():
            self.conn.executemany(_update_call(cols), values)
        res.calls_written += len(inserts) + sum(map(len, updates.values()))

    def _states(self, sids: list[str]) -> dict[str, CallState]:
        """Each call as the database holds it now: from the cache, or read (in the batch's
        transaction) when the cache does not hold it."""
        out: dict[str, CallState] = {}
        missing: list[str] = []
        for sid in sids:
            st = self.cache.get(sid)
            if st is None:
                missing.append(sid)
            else:
                out[sid] = st
        if missing:
            rows = self._rows(missing)
            # a call's events and its row are written together: no row, no events
            stored = self._stored_keys([s for s in missing if s in rows])
            for sid in missing:
                out[sid] = CallState(rows.get(sid), stored.get(sid, {}))
        return out

    def _rows(self, sids: list[str]) -> dict[str, Row]:
        out: dict[str, Row] = {}
        cols = _q(CALL_COLUMNS)
        for i in range(0, len(sids), _CHUNK):
            chunk = sids[i : i + _CHUNK]
            sql = f"SELECT {cols} FROM calls WHERE call_sid IN ({', '.join('?' * len(chunk))})"
            for r in self.conn.execute(sql, chunk):
                out[r[0]] = dict(zip(CALL_COLUMNS, r, strict=True))
        return out

    def _stored_keys(self, sids: list[str]) -> dict[str, dict[int, tuple[str, Position]]]:
        out: dict[str, dict[int, tuple[str, Position]]] = {}
        for i in range(0, len(sids), _CHUNK):
            chunk = sids[i : i + _CHUNK]
            sql = (
                'SELECT call_sid, sequence_number, status, partition, "offset" FROM call_events '
                f"WHERE call_sid IN ({', '.join('?' * len(chunk))})"
            )
            for sid, seq, status, p, o in self.conn.execute(sql, chunk):
                out.setdefault(sid, {})[seq] = (status, (p, o))
        return out

    def _stored_events(self, sid: str) -> list[Event]:
        cur = self.conn.execute(
            f"SELECT {_q(EVENT_COLUMNS)} FROM call_events WHERE call_sid = ?", (sid,)
        )
        return [event_from_stored(dict(zip(EVENT_COLUMNS, r, strict=True))) for r in cur]


def dump(conn: Any, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` in primary-key order (for comparing two databases)."""
    order = {
        "calls": "call_sid",
        "call_events": "call_sid, sequence_number",
        "rejected_events": 'topic, partition, "offset"',
        "projector_offsets": "topic, partition",
    }[table]
    return list(conn.execute(f"SELECT * FROM {table} ORDER BY {order}"))
