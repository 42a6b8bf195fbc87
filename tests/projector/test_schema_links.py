"""Schema version 4 (kept by every later version): the call -> events foreign key and
``started_at``, on new and upgraded files, with the rows of an older file kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from projector import schema
from projector.store import Store
from tests.projector.support import callback, sid

TOPIC = "t"


def test_a_version_3_file_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    schema.open_db(path, target=3).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO calls (call_sid, status, ringing_at, ended_at) "
        "VALUES (?, 'completed', '2026-01-01T00:00:01Z', '2026-01-01T00:00:09Z')",
        (sid(1),),
    )
    conn.execute(
        'INSERT INTO call_events (call_sid, sequence_number, status, "offset", params) '
        "VALUES (?, 0, 'ringing', 7, '[]')",
        (sid(1),),
    )
    conn.commit()
    conn.close()
    st = Store(path, TOPIC)
    try:
        assert schema.version_of(st.conn) == schema.SCHEMA_VERSION
        fks = st.conn.execute("PRAGMA foreign_key_list(call_events)").fetchall()
        assert [(r[2], r[3], r[4]) for r in fks] == [("calls", "call_sid", "call_sid")]
        assert st.conn.execute(
            'SELECT call_sid, sequence_number, status, "offset", params FROM call_events'
        ).fetchall() == [(sid(1), 0, "ringing", 7, "[]")]
        assert st.conn.execute("SELECT started_at FROM calls").fetchall() == [
            ("2026-01-01T00:00:01Z",)
        ]
    finally:
        st.close()


def test_started_at_follows_the_earliest_stage_known(tmp_path: Path) -> None:
    st = Store(tmp_path / "new.db", TOPIC)
    try:
        st.apply([(0, 0, callback(sid(2), 3, "completed", 9, CallDuration="4"))])
        first = st.conn.execute("SELECT started_at, ended_at FROM calls").fetchone()
        assert first[0] == first[1]  # only the end is known
        st.apply([(0, 1, callback(sid(2), 0, "initiated", 2))])
        started, ended = st.conn.execute("SELECT started_at, ended_at FROM calls").fetchone()
        assert started < ended
    finally:
        st.close()
