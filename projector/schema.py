"""The projector's SQLite schema, its version and its migrations.

The version lives in ``PRAGMA user_version``. Opening a file applies the missing migration
steps in order (each in its own transaction) and refuses, with a sentence saying what to do,
a file written by a newer projector or a file that is not a projector database at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database

from callstream.sqlitetx import write_transaction

SCHEMA_VERSION = 5
TABLES = ("calls", "call_events", "rejected_events", "projector_offsets")
# How long a write waits for another process's write lock before it fails.
BUSY_TIMEOUT_MS = 5000


class SchemaError(RuntimeError):
    """The database file cannot be used by this projector; the message says why."""


def _v1_tables(db: Database) -> None:
    db["calls"].create(  # type: ignore[union-attr]
        {
            "call_sid": str,
            "account_sid": str,
            "parent_call_sid": str,
            "direction": str,
            "from_number": str,
            "to_number": str,
            "status": str,
            "last_sequence_number": int,
            "events_count": int,
            "initiated_at": str,
            "ringing_at": str,
            "answered_at": str,
            "ended_at": str,
            "call_duration_s": int,
            "billed_minutes": int,
            "sip_response_code": int,
            "answered_by": str,
        },
        pk="call_sid",
    )
    db["call_events"].create(  # type: ignore[union-attr]
        {
            "call_sid": str,
            "sequence_number": int,
            "status": str,
            "timestamp": str,
            "received_at": str,
            "partition": int,
            "offset": int,
            "params": str,
        },
        pk=("call_sid", "sequence_number"),
        not_null={"call_sid", "sequence_number"},
    )
    db["rejected_events"].create(  # type: ignore[union-attr]
        {
            "topic": str,
            "partition": int,
            "offset": int,
            "reason": str,
            "call_sid": str,
            "received_at": str,
            "value": str,
        },
        pk=("topic", "partition", "offset"),
    )
    db["projector_offsets"].create(  # type: ignore[union-attr]
        {"topic": str, "partition": int, "next_offset": int},
        pk=("topic", "partition"),
        not_null={"next_offset"},
    )


def _v2_indexes(db: Database) -> None:
    for col in ("status", "parent_call_sid", "account_sid", "ended_at"):
        db["calls"].create_index([col], find_unique_name=True)  # type: ignore[union-attr]


def _v3_topic_ids(db: Database) -> None:
    # The Kafka topic id (KIP-516) the offsets refer to: a broker that lost its data, or a
    # topic deleted and created again, has a new id even once the new log has grown past
    # the stored offsets, so a projector started after such a reset can still tell.
    db["projector_topics"].create(  # type: ignore[union-attr]
        {"topic": str, "topic_id": str},
        pk="topic",
    )


def _v4_links_and_start(db: Database) -> None:
    # call_events.call_sid -> calls.call_sid declared as a foreign key, so that tools that
    # read the schema (Datasette: "links from other tables" on a call's page) join them.
    # It is not enforced (PRAGMA foreign_keys stays off): it only describes the schema.
    # SQLite cannot add a constraint to a table, so the table is copied.
    conn = db.conn
    conn.execute(
        """CREATE TABLE "call_events_v4" (
   "call_sid" TEXT NOT NULL REFERENCES "calls"("call_sid"),
   "sequence_number" INTEGER NOT NULL,
   "status" TEXT,
   "timestamp" TEXT,
   "received_at" TEXT,
   "partition" INTEGER,
   "offset" INTEGER,
   "params" TEXT,
   PRIMARY KEY ("call_sid", "sequence_number")
)"""
    )
    conn.execute("INSERT INTO call_events_v4 SELECT * FROM call_events")
    conn.execute("DROP TABLE call_events")
    conn.execute("ALTER TABLE call_events_v4 RENAME TO call_events")
    # The first time known of a call, for "newest calls first": computed by SQLite from the
    # columns the projector writes (a virtual column, nothing stored, nothing to keep in step).
    conn.execute(
        "ALTER TABLE calls ADD COLUMN started_at TEXT GENERATED ALWAYS AS "
        "(coalesce(initiated_at, ringing_at, answered_at, ended_at)) VIRTUAL"
    )
    conn.execute('CREATE INDEX "idx_calls_started_at" ON "calls" ("started_at")')


def _v5_fingerprints(db: Database) -> None:
    # A fingerprint of the last applied record of each partition, with its offset: after a
    # topic-id change the projector reads that offset in the new log and compares, so a log
    # restored from an archive (the same records at the same offsets) is told from one
    # that was replaced or went backwards.
    db["projector_fingerprints"].create(  # type: ignore[union-attr]
        {"topic": str, "partition": int, "offset": int, "fingerprint": str},
        pk=("topic", "partition"),
        not_null={"offset", "fingerprint"},
    )


# MIGRATIONS[n] takes a version-n database to version n + 1.
MIGRATIONS: dict[int, Callable[[Database], None]] = {
    0: _v1_tables,
    1: _v2_indexes,
    2: _v3_topic_ids,
    3: _v4_links_and_start,
    4: _v5_fingerprints,
}


def version_of(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def open_db(path: Path | str, target: int = SCHEMA_VERSION) -> Database:
    """Open (creating if missing) the writer's connection, in WAL mode, migrated to ``target``."""
    # The writer connection is opened by one thread and then used only by the consumer's.
    db = Database(sqlite3.connect(str(path), check_same_thread=False))
    try:
        with db.ensure_autocommit_on():
            db.conn.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL keeps the file consistent on a crash; a power loss may drop the
            # last transactions, and their offsets with them, so they are simply consumed again.
            db.conn.execute("PRAGMA synchronous=NORMAL")
            db.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        migrate(db, target)
    except BaseException:
        db.close()
        raise
    return db


def migrate(db: Database, target: int = SCHEMA_VERSION) -> int:
    """Bring ``db`` to schema version ``target``; return the version it had."""
    current = version_of(db.conn)
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"the database was written by a newer projector (schema version {current}; this "
            f"one knows up to {SCHEMA_VERSION}): upgrade callstream, or build a database this "
            "version can read with 'callstream rebuild --db NEW'"
        )
    if current == 0 and set(db.table_names()) - {"sqlite_sequence"}:
        raise SchemaError(
            "the file is an SQLite database but not a callstream projector database "
            f"(tables: {', '.join(sorted(db.table_names()))}); point --db/CALLSTREAM_DB elsewhere"
        )
    for step in range(current, target):
        with write_transaction(db.conn):
            MIGRATIONS[step](db)
            db.conn.execute(f"PRAGMA user_version={step + 1}")
    return current


def connect_readonly(path: Path | str) -> sqlite3.Connection:
    """A read-only connection for queries (HTTP API, CLI); refuses a foreign or newer file."""
    p = Path(path)
    if not p.exists():
        raise SchemaError(
            f"no projector database at {p} (run 'callstream projector' to create it, or point "
            "--db/CALLSTREAM_DB at one)"
        )
    if p.is_dir():
        raise SchemaError(f"{p} is a directory, not a projector database (point --db at a file)")
    try:
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as e:  # e.g. no permission to read it
        raise SchemaError(f"cannot open {p}: {e}") from None
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        try:
            v = version_of(conn)
        except sqlite3.DatabaseError as e:  # "file is not a database", unreadable file
            raise SchemaError(f"cannot read {p} as a projector database: {e}") from None
        if v > SCHEMA_VERSION:
            raise SchemaError(
                f"{p} has schema version {v}, newer than this callstream knows "
                f"({SCHEMA_VERSION}): upgrade callstream"
            )
        if v == 0:
            raise SchemaError(f"{p} is not a callstream projector database (no schema version)")
    except BaseException:
        conn.close()
        raise
    return conn
