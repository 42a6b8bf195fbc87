"""The store: one transaction per batch, order-independence, schema version checks."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import pytest

from projector import schema
from projector.store import Store
from tests.projector.support import call_log, callback, sid, tables

TOPIC = "t.twilio.call-status"


def as_records(pairs: list[tuple[str, bytes]], partitions: int = 3) -> list[tuple[int, int, bytes]]:
    """Place pairs on partitions by key, as the producer would, with offsets."""
    offsets = [0] * partitions
    out = []
    for key, value in pairs:
        p = sum(key.encode()) % partitions
        out.append((p, offsets[p], value))
        offsets[p] += 1
    return out


def build(path: Path, batches: list[list[tuple[int, int, bytes]]]) -> dict[str, list[object]]:
    st = Store(path, TOPIC)
    try:
        for b in batches:
            st.apply(b)
        return tables(st.conn)  # type: ignore[return-value]
    finally:
        st.close()


def test_tables_are_a_function_of_the_log(tmp_path: Path) -> None:
    recs = as_records(call_log(300))
    one = build(tmp_path / "one.db", [recs])
    # per-partition order kept, partitions interleaved differently, batches of other sizes
    rnd = random.Random(3)
    by_part: dict[int, list[tuple[int, int, bytes]]] = {}
    for r in recs:
        by_part.setdefault(r[0], []).append(r)
    mixed: list[tuple[int, int, bytes]] = []
    while any(by_part.values()):
        p = rnd.choice([k for k, v in by_part.items() if v])
        mixed += [by_part[p].pop(0) for _ in range(min(len(by_part[p]), rnd.randint(1, 7)))]
    batches = []
    while mixed:
        n = rnd.randint(1, 50)
        batches.append(mixed[:n])
        mixed = mixed[n:]
    two = build(tmp_path / "two.db", batches)
    assert one == two
    assert len(one["calls"]) == 300
    assert len(one["rejected_events"]) == 4
    assert all(r[3] for r in one["rejected_events"])  # a reason each


def test_out_of_log_order_application_still_agrees(tmp_path: Path) -> None:
    """Even applying records in reverse (not something the consumer does) gives the same
    rows: a copy first in the log replaces a later one and the call is folded again."""
    recs = as_records(call_log(100, dup_rate=0.5))
    assert build(tmp_path / "a.db", [recs]) == build(
        tmp_path / "b.db", [[r] for r in reversed(recs)]
    )


def test_duplicates_and_rejections(tmp_path: Path) -> None:
    st = Store(tmp_path / "x.db", TOPIC)
    a = callback(sid(1), 0, "ringing", 1)
    res = st.apply([(0, 0, a), (0, 1, a), (0, 2, b"garbage")])
    assert (res.records, res.events, res.rejected) == (3, 1, 1)
    res = st.apply([(0, 3, a), (0, 4, callback(sid(1), 1, "completed", 9, CallDuration="7"))])
    assert (res.events, res.rejected) == (1, 0)
    row = st.conn.execute(
        "SELECT status, events_count, call_duration_s, ringing_at FROM calls"
    ).fetchone()
    assert row[:3] == ("completed", 2, 7) and row[3].endswith("Z")
    assert st.conn.execute(
        'SELECT "offset" FROM call_events WHERE sequence_number = 0'
    ).fetchone() == (0,)
    assert st.offsets() == {0: 5}
    rej = st.conn.execute('SELECT partition, "offset", reason FROM rejected_events').fetchall()
    assert rej == [(0, 2, rej[0][2])] and rej[0][2].startswith("malformed-envelope")
    st.close()


def test_wal_and_indexes(tmp_path: Path) -> None:
    st = Store(tmp_path / "x.db", TOPIC)
    assert st.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    idx = {r[1] for r in st.conn.execute("PRAGMA index_list(calls)")}
    for col in ("status", "parent_call_sid", "account_sid", "ended_at"):
        assert f"idx_calls_{col}" in idx
    st.close()


def test_older_schema_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    schema.open_db(path, target=1).close()
    conn = sqlite3.connect(path)
    assert schema.version_of(conn) == 1
    conn.close()
    st = Store(path, TOPIC)
    assert schema.version_of(st.conn) == schema.SCHEMA_VERSION
    assert "idx_calls_status" in {r[1] for r in st.conn.execute("PRAGMA index_list(calls)")}
    st.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    schema.open_db(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(schema.SchemaError, match="newer projector"):
        Store(path, TOPIC)
    with pytest.raises(schema.SchemaError, match="newer"):
        schema.connect_readonly(path)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE stuff (x)")
    conn.close()
    with pytest.raises(schema.SchemaError, match="not a callstream projector database"):
        Store(path, TOPIC)


def test_a_batch_waits_for_another_writers_lock(tmp_path: Path) -> None:
    """A batch reads before it writes. Begun deferred, it would fail at once ("database is
    locked") when another connection holds the write lock, since SQLite does not wait for a
    lock a reading transaction asks to upgrade; the store takes the lock first and waits."""
    path = tmp_path / "x.db"
    st = Store(path, TOPIC)
    st.apply([(0, 0, callback(sid(1), 0, "ringing", 1))])
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, other.execute, ("ROLLBACK",))
    release.start()
    try:
        res = st.apply([(0, 1, callback(sid(1), 1, "completed", 9, CallDuration="7"))])
    finally:
        release.join()
        other.close()
    assert res.events == 1
    assert st.conn.execute("SELECT status FROM calls").fetchone() == ("completed",)
    assert st.offsets() == {0: 2}
    st.close()
