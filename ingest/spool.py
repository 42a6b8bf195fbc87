"""The durable local spool: callbacks accepted while Kafka could not take them.

One SQLite file in WAL mode with ``synchronous=FULL``: a committed append survives a crash
of the process and of the machine. Rows are drained oldest first (by their increasing id)
and deleted once Kafka has acknowledged them.

The methods block (disk I/O). :class:`ingest.publisher.Publisher` calls them from one
dedicated thread, never from the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from callstream.sqlitetx import write_transaction

Row = tuple[str, bytes | None, bytes]  # topic, key, value
StoredRow = tuple[int, str, bytes | None, bytes]  # id, topic, key, value

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key   BLOB,
    value BLOB NOT NULL
)
"""


class Spool:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

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

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def writable(self) -> bool:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("ROLLBACK")
            return True
        except sqlite3.Error:
            return False

    def close(self) -> None:
        self._db.close()
