"""One SQLite write transaction that takes the write lock first (``BEGIN IMMEDIATE``).

Shared by ingest's spool and the projector's store. A deferred ``BEGIN`` (what Python's
sqlite3 and sqlite-utils' ``atomic()`` issue) takes the write lock only at the first
write, and a transaction that has already read does not wait for it: SQLite skips the busy
handler and fails at once with "database is locked" while another connection holds the
lock. Taking the lock first makes the write wait, up to the busy timeout, like any other.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Commit what the block did, or roll it all back if it (or the commit) fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
