"""The archive file: an append-only SQLite copy of callstream's topics.

Tables:

* ``records``: one row per log record (topic, partition, offset, timestamp, timestamp
  type, key, value, headers), bytes exactly as the broker served them.
* ``positions``: per (topic, partition) the next offset to copy.
* ``topics``: each archived topic's partition count.

:meth:`ArchiveStore.append` writes a batch of records and the positions after them in one
transaction, so after a crash the archive holds exactly the records before its positions:
the archiver starts there again, with no gap and no duplicate. ``synchronous=FULL``: a
committed batch also survives a power loss, which is what lets ingest answer ``204`` once
the archive holds a callback (see :mod:`callstream.archive_gate`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from callstream.archive_format import ArchivedRecord, decode_headers, encode_headers
from callstream.sqlitetx import write_transaction

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000
_APP_ID = 0x43534152  # "CSAR": tells an archive from any other SQLite file

_SCHEMA = (
    # a rowid table: rows are about 1 KB, which a WITHOUT ROWID table stores poorly (four
    # times the bytes, measured); appends go to the end of the rowid b-tree
    """CREATE TABLE records (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
        timestamp INTEGER NOT NULL, timestamp_type INTEGER NOT NULL,
        key BLOB, value BLOB, headers BLOB,
        UNIQUE (topic, partition, "offset"))""",
    """CREATE TABLE positions (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
        PRIMARY KEY (topic, partition)) WITHOUT ROWID""",
    """CREATE TABLE topics (topic TEXT PRIMARY KEY, partitions INTEGER NOT NULL)""",
)
_INSERT = (
    'INSERT INTO records (topic, partition, "offset", timestamp, timestamp_type, key, value, '
    "headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_POSITION = (
    "INSERT INTO positions (topic, partition, next_offset) VALUES (?, ?, ?) "
    "ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset"
)


class ArchiveError(RuntimeError):
    """The archive file cannot be used; the message says why and what to do."""


def row_of(r: Any) -> tuple[object, ...]:
    """An :class:`ArchivedRecord`, or a kafka-python consumer record (same attribute
    names), as a row of ``records``."""
    return (
        r.topic,
        r.partition,
        r.offset,
        r.timestamp,
        r.timestamp_type,
        r.key,
        r.value,
        encode_headers(r.headers) if r.headers else None,
    )


class ArchiveStore:
    """One connection to the archive file (the archiver's, or a reader's)."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise ArchiveError(f"no archive at {self.path} (run 'callstream archive' first)")
        if not readonly and not self.path.parent.is_dir():
            raise ArchiveError(f"directory {self.path.parent} does not exist")
        uri = f"{self.path.resolve().as_uri()}?mode={'ro' if readonly else 'rwc'}"
        try:
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
            self._check_or_create(readonly)
        except sqlite3.DatabaseError as e:
            raise ArchiveError(f"{self.path} is not a usable callstream archive: {e}") from None

    def _check_or_create(self, readonly: bool) -> None:
        app = int(self.conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if app == _APP_ID:
            if version > SCHEMA_VERSION:
                raise ArchiveError(
                    f"{self.path} was written by a newer callstream (archive version "
                    f"{version}): upgrade callstream"
                )
            return
        tables = [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")]
        if tables or readonly:
            raise ArchiveError(
                f"{self.path} is not a callstream archive; point --archive/CALLSTREAM_ARCHIVE "
                "elsewhere"
            )
        with write_transaction(self.conn):
            for sql in _SCHEMA:
                self.conn.execute(sql)
            self.conn.execute(f"PRAGMA application_id={_APP_ID}")
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    # -- writing -------------------------------------------------------------------------
    def append(
        self, records: Iterable[ArchivedRecord], positions: dict[tuple[str, int], int]
    ) -> int:
        """Records and the positions after them, in one transaction; returns the count."""
        return self.append_rows([row_of(r) for r in records], positions)

    def append_rows(
        self, rows: list[tuple[object, ...]], positions: dict[tuple[str, int], int]
    ) -> int:
        """:meth:`append` for rows already in column order (the archiver's fast path)."""
        with write_transaction(self.conn):
            if rows:
                self.conn.executemany(_INSERT, rows)
            self.conn.executemany(_POSITION, [(t, p, o) for (t, p), o in positions.items()])
        return len(rows)

    def remember_topic(self, topic: str, partitions: int) -> None:
        with write_transaction(self.conn):
            self.conn.execute(
                "INSERT INTO topics (topic, partitions) VALUES (?, ?) ON CONFLICT(topic) "
                "DO UPDATE SET partitions = excluded.partitions",
                (topic, partitions),
            )

    # -- reading -------------------------------------------------------------------------
    def positions(self) -> dict[tuple[str, int], int]:
        rows = self.conn.execute("SELECT topic, partition, next_offset FROM positions")
        return {(t, int(p)): int(o) for t, p, o in rows}

    def topics(self) -> dict[str, int]:
        return {t: int(n) for t, n in self.conn.execute("SELECT topic, partitions FROM topics")}

    def count(self, topic: str | None = None) -> int:
        if topic is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        sql = "SELECT COUNT(*) FROM records WHERE topic = ?"
        return int(self.conn.execute(sql, (topic,)).fetchone()[0])

    def offsets(self, topic: str, partition: int) -> Iterator[int]:
        sql = 'SELECT "offset" FROM records WHERE topic = ? AND partition = ? ORDER BY "offset"'
        for (o,) in self.conn.execute(sql, (topic, partition)):
            yield int(o)

    def get(self, topic: str, partition: int, offset: int) -> ArchivedRecord | None:
        sql = (
            "SELECT timestamp, timestamp_type, key, value, headers FROM records "
            'WHERE topic = ? AND partition = ? AND "offset" = ?'
        )
        row = self.conn.execute(sql, (topic, partition, offset)).fetchone()
        if row is None:
            return None
        return ArchivedRecord(
            topic, partition, offset, row[0], row[1], row[2], row[3], decode_headers(row[4])
        )

    def rows(self, topic: str, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
        """(partition, offset, timestamp, timestamp_type, key, value, headers blob) of every
        record of ``topic`` in partition and offset order: restore's fast path."""
        sql = (
            'SELECT partition, "offset", timestamp, timestamp_type, key, value, headers '
            'FROM records WHERE topic = ? ORDER BY partition, "offset"'
        )
        cur = self.conn.execute(sql, (topic,))
        while rows := cur.fetchmany(batch):
            yield from rows

    def records(self, topic: str, batch: int = 5000) -> Iterator[ArchivedRecord]:
        """Every record of ``topic``, partition by partition, in offset order."""
        sql = (
            'SELECT partition, "offset", timestamp, timestamp_type, key, value, headers '
            'FROM records WHERE topic = ? ORDER BY partition, "offset"'
        )
        cur = self.conn.execute(sql, (topic,))
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                return
            for p, o, ts, tt, k, v, h in rows:
                yield ArchivedRecord(topic, p, o, ts, tt, k, v, decode_headers(h))
