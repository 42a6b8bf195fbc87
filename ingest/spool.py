"""The durable local spool: callbacks accepted while Kafka could not take them.

One SQLite file in WAL mode with ``synchronous=FULL``: a committed append survives a crash
of the process and of the machine. Rows are drained oldest first (by their increasing id)
and deleted once Kafka has acknowledged them.

A row Kafka refuses for a reason about the row itself (too large, invalid) would fail
every retry and hold back everything behind it, so the drain *sets it aside*: the row moves,
in one transaction, to the ``spool_dead`` table with the reason. ``callstream spool`` lists
those rows, and retries (produces) or drops them.

The methods block (disk I/O). :class:`ingest.publisher.Publisher` calls them from one
dedicated thread, never from the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from callstream.sqlitetx import write_transaction
from callstream.timefmt import now_iso

Row = tuple[str, bytes | None, bytes]  # topic, key, value
StoredRow = tuple[int, str, bytes | None, bytes]  # id, topic, key, value

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key   BLOB,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS spool_dead (
    id         INTEGER PRIMARY KEY,  -- the row's id in the spool
    topic      TEXT NOT NULL,
    key        BLOB,
    value      BLOB NOT NULL,
    reason     TEXT NOT NULL,
    set_aside_at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DeadRow:
    id: int
    topic: str
    key: bytes | None
    value: bytes
    reason: str
    set_aside_at: str


class Spool:
    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise FileNotFoundError(f"no spool file at {self.path}")
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=10
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def append_many(self, rows: Sequence[Row]) -> None:
        """Commit ``rows`` in one transaction (all or none), in the order given."""
        with write_transaction(self._db):
            self._db.executemany("INSERT INTO spool (topic, key, value) VALUES (?, ?, ?)", rows)

    def oldest(self, limit: int) -> list[StoredRow]:
        cur = self._db.execute(
            "SELECT id, topic, key, value FROM spool ORDER BY id LIMIT ?", (limit,)
        )
        return [(int(i), str(t), k, v) for i, t, k, v in cur.fetchall()]

    def delete_through(self, last_id: int) -> None:
        """Forget every row up to and including ``last_id`` (they reached Kafka)."""
        self._db.execute("DELETE FROM spool WHERE id <= ?", (last_id,))

    def set_aside(self, rows: Sequence[tuple[StoredRow, str]]) -> None:
        """Move ``rows`` (each with its reason) from the spool to ``spool_dead``, at once."""
        now = now_iso()
        with write_transaction(self._db):
            self._db.executemany(
                "INSERT OR REPLACE INTO spool_dead (id, topic, key, value, reason, set_aside_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(i, t, k, v, why, now) for (i, t, k, v), why in rows],
            )
            self._db.executemany("DELETE FROM spool WHERE id = ?", [(r[0][0],) for r in rows])

    def dead(self, ids: Sequence[int] | None = None) -> list[DeadRow]:
        sql = "SELECT id, topic, key, value, reason, set_aside_at FROM spool_dead"
        args: list[int] = []
        if ids is not None:
            sql += " WHERE id IN (" + ",".join("?" * len(ids)) + ")"
            args = list(ids)
        cur = self._db.execute(sql + " ORDER BY id", args)
        return [DeadRow(int(i), str(t), k, bytes(v), str(r), str(a)) for i, t, k, v, r, a in cur]

    def forget_dead(self, ids: Sequence[int]) -> None:
        with write_transaction(self._db):
            self._db.executemany("DELETE FROM spool_dead WHERE id = ?", [(i,) for i in ids])

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def count_dead(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM spool_dead").fetchone()[0])

    def writable(self) -> bool:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("ROLLBACK")
            return True
        except sqlite3.Error:
            return False

    def adopt(self, other: Path, chunk: int = 1000) -> int:
        """Move every row of the spool file ``other`` (a worker's that no longer runs) into
        this one, oldest first, set-aside rows included; return how many moved.

        Each chunk is committed here before it is deleted there: a crash in between leaves
        the chunk in both files (a duplicate on the topic, which the projector ignores),
        never in neither. Set-aside rows get ids of this spool (an id taken from its
        sequence, so no later row can collide with them).
        """
        src = Spool(other, create=False)
        moved = 0
        try:
            while rows := src.oldest(chunk):
                self.append_many([(t, k, v) for _, t, k, v in rows])
                src.delete_through(rows[-1][0])
                moved += len(rows)
            dead = src.dead()
            if dead:
                with write_transaction(self._db):
                    for d in dead:
                        cur = self._db.execute(
                            "INSERT INTO spool (topic, key, value) VALUES (?, ?, ?)",
                            (d.topic, d.key, d.value),
                        )
                        self._db.execute(
                            "INSERT INTO spool_dead (id, topic, key, value, reason, "
                            "set_aside_at) VALUES (?, ?, ?, ?, ?, ?)",
                            (cur.lastrowid, d.topic, d.key, d.value, d.reason, d.set_aside_at),
                        )
                        self._db.execute("DELETE FROM spool WHERE id = ?", (cur.lastrowid,))
                src.forget_dead([d.id for d in dead])
                moved += len(dead)
        finally:
            src.close()
        return moved

    def close(self) -> None:
        self._db.close()
