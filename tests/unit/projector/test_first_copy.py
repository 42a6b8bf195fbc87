"""First copy wins (docs/projector.md): one rule, :func:`projector.fold.earlier`, used by the
fold, by :func:`projector.fold.update` (which copies a batch writes) and, as
:data:`projector.fold.EARLIER_SQL`, by the store's upsert of ``call_events``. These tests pin
the SQL to the Python rule and the writes to the fold."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projector import fold
from projector.events import Event, Position
from projector.store import _UPSERT_EVENT, Store
from tests.unit.projector.test_fold import call_events

SID = "CA" + "3" * 32
POSITIONS = [(p, o) for p in range(3) for o in range(4)]


def copy_at(pos: Position, seq: int = 1) -> Event:
    """A copy of one callback at ``pos``; its status says where it was read."""
    return Event(SID, seq, f"at-{pos[0]}-{pos[1]}", None, "r", pos[0], pos[1], "[]")


def test_the_rule_is_the_log_order() -> None:
    """Lowest partition first, then lowest offset; a copy never wins over itself."""
    assert fold.earlier((0, 9), (1, 0))
    assert fold.earlier((1, 2), (1, 3))
    assert not fold.earlier((1, 3), (1, 2))
    assert not fold.earlier((2, 0), (1, 9))
    assert not fold.earlier((1, 1), (1, 1))


def test_the_stores_sql_keeps_the_copy_the_rule_keeps(tmp_path: Path) -> None:
    """Every pair of positions, in both orders of arrival: the row SQLite keeps is the copy
    :func:`fold.earlier` (and :func:`fold.distinct`) keeps."""
    assert f"WHERE {fold.EARLIER_SQL}" in _UPSERT_EVENT
    store = Store(tmp_path / "rule.db", "t")
    try:
        store.conn.execute("INSERT INTO calls (call_sid, events_count) VALUES (?, 0)", (SID,))
        for a, b in itertools.permutations(POSITIONS, 2):
            store.conn.execute("DELETE FROM call_events")
            for pos in (a, b):
                store.conn.execute(_UPSERT_EVENT, copy_at(pos).row())
            kept = store.conn.execute('SELECT partition, "offset", status FROM call_events')
            want = a if fold.earlier(a, b) else b
            assert list(kept) == [(*want, copy_at(want).status)], (a, b)
            assert fold.distinct([copy_at(a), copy_at(b)])[1].position == want
    finally:
        store.close()


def apply_all(chunks: list[list[Event]]) -> tuple[dict[str, Any] | None, dict[int, Event], int]:
    """Chunks applied as the store applies them, with a dict for the tables: the row, the
    event rows written (an upsert keeps what :func:`fold.update` says to write) and the
    count of new events."""
    row: dict[str, Any] | None = None
    table: dict[int, Event] = {}
    added = 0
    for chunk in chunks:
        stored = {s: (e.status, e.position) for s, e in table.items()}
        change = fold.update(row, stored, chunk, lambda: list(table.values()))
        for e in change.events:
            table[e.sequence_number] = e
        added += change.new
        row = change.row if change.row is not None else row
    return row, table, added


@settings(max_examples=300, deadline=None)
@given(call_events(), st.randoms(use_true_random=False), st.data())
def test_a_batch_writes_the_first_copies_and_counts_new_events_once(
    events: list[Event], rnd: Any, data: st.DataObject
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(shuffled)), max_size=4)))
    chunks = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    row, table, added = apply_all([c for c in chunks if c])
    first = fold.distinct(events)
    assert table == first
    assert added == len(first)
    assert row == fold.fold(events)


def test_an_unchanged_row_is_not_written_again() -> None:
    a = copy_at((0, 1))
    row = fold.fold([a])
    stored = {1: (a.status, a.position)}
    later = fold.update(row, stored, [copy_at((0, 5))], list)
    assert (later.row, later.events, later.new) == (None, [], 0)
    # the same record read again (a restart before its offset was stored): nothing to write
    again = fold.update(row, stored, [copy_at((0, 1))], list)
    assert (again.row, again.events, again.new) == (None, [], 0)
    earlier = fold.update(row, stored, [copy_at((0, 0))], lambda: [a])
    assert earlier.events == [copy_at((0, 0))] and earlier.new == 0
    assert earlier.row == fold.fold([copy_at((0, 0))])
