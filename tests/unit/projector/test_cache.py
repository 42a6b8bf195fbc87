"""The writer's cache of calls in flight (projector/cache.py): the bound and the eviction
order, and a property that the store gives the same rows with the cache as without it, for
any log, any order, any batches, restarts, failed batches and two writers on one file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projector.cache import CallCache, CallState
from projector.store import Store, dump
from tests.unit.projector.callbacks import callback

TOPIC = "t.twilio.call-status"
STATUSES = ("queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer")


def state(status: str | None) -> CallState:
    return CallState(None if status is None else {"status": status}, {})


def test_the_bound_is_never_exceeded_and_settled_calls_go_first() -> None:
    c = CallCache(max_calls=3, settle_after=1000)
    c.commit({"A": state("completed"), "B": state("ringing"), "C": state("ringing")}, 3)
    c.commit({"D": state("in-progress")}, 1)
    assert len(c) == 3
    assert "A" not in c  # the settled one went, although it was not the oldest in flight
    assert {"B", "C", "D"} == {s for s in "BCD" if s in c}
    c.commit({"E": state("ringing")}, 1)
    assert len(c) == 3
    assert "B" not in c  # then the least recently touched call in flight
    c.commit({"C": state("ringing")}, 1)  # touching C makes D the oldest
    c.commit({"F": state("ringing")}, 1)
    assert "D" not in c and "C" in c
    assert c.evicted == 3


def test_settled_calls_are_evicted_once_old_in_records() -> None:
    c = CallCache(max_calls=100, settle_after=10)
    c.commit({"A": state("completed"), "B": state("ringing")}, 4)
    c.commit({"X": state("ringing")}, 9)  # A is 9 records old: kept
    assert "A" in c
    c.commit({"Y": state("ringing")}, 1)  # 10 records old: settled, gone
    assert "A" not in c
    assert "B" in c  # a call in flight is never evicted for age
    c.commit({"A": state("completed")}, 1)  # a late copy brings it back, fresh
    assert "A" in c


def test_a_call_that_settles_moves_to_the_settled_side() -> None:
    c = CallCache(max_calls=2, settle_after=1000)
    c.commit({"A": state("ringing"), "B": state("ringing")}, 2)
    c.commit({"A": state("completed")}, 1)
    c.commit({"C": state("ringing")}, 1)
    assert "A" not in c and "B" in c and "C" in c


def test_zero_remembers_nothing_and_clear_forgets_everything() -> None:
    off = CallCache(max_calls=0)
    off.commit({"A": state("ringing")}, 1)
    assert len(off) == 0 and off.get("A") is None
    c = CallCache()
    c.commit({"A": state("ringing")}, 1)
    assert c.get("A") is not None and c.hits == 1
    c.clear()
    assert c.get("A") is None and c.misses == 1


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        CallCache(max_calls=-1)


def test_memory_stays_bounded_on_a_long_log(tmp_path: Path) -> None:
    """A day-sized stream of short calls through a small cache: the size never exceeds the
    bound, and settled calls leave without waiting for the bound."""
    st = Store(tmp_path / "long.db", TOPIC, CallCache(max_calls=50, settle_after=40))
    offset = 0
    for n in range(400):
        sid = f"CA{n:032x}"
        batch = []
        for seq, status in enumerate(("ringing", "in-progress", "completed")):
            batch.append((0, offset, callback(seq, status, sid=sid)))
            offset += 1
        st.apply(batch)
        assert len(st.cache) <= 50
    assert len(st.cache) <= 40 // 3 + 1  # only the recently settled ones are left
    st.close()


# -- cache on == cache off, for any log ------------------------------------------------


@st.composite
def logs(draw: Any) -> list[tuple[int, int, bytes]]:
    """Records of a few calls on a few partitions: lifecycle events in any order, copies,
    odd SequenceNumbers (negative ones included: they must not be special to the cache),
    two terminal events now and then, and a record that is not a callback."""
    sids = [f"CA{i:032x}" for i in range(draw(st.integers(1, 4)))]
    values: list[bytes] = []
    for sid in sids:
        for _ in range(draw(st.integers(1, 6))):
            seq = draw(st.integers(-3, 6))
            status = draw(st.sampled_from(STATUSES))
            second = draw(st.integers(0, 59))
            ts = f"Tue, 01 Nov 2016 01:59:{second:02d} +0000"
            extra = {"CallDuration": str(second)} if status == "completed" else {}
            values += [callback(seq, status, ts, sid, **extra)] * draw(st.integers(1, 2))
    if draw(st.booleans()):
        values.append(b"not an envelope")
    values = draw(st.permutations(values))
    parts = draw(st.lists(st.integers(0, 2), min_size=len(values), max_size=len(values)))
    offsets = [0, 0, 0]
    out = []
    for p, v in zip(parts, values, strict=True):
        out.append((p, offsets[p], v))
        offsets[p] += 1
    return out


class Boom(RuntimeError):
    pass


def snapshot(store: Store) -> dict[str, list[Any]]:
    return {t: dump(store.conn, t) for t in ("calls", "call_events", "rejected_events")}


@settings(max_examples=300, deadline=None)
@given(logs(), st.data())
def test_cache_on_and_off_give_equal_rows(
    records: list[tuple[int, int, bytes]], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(records))  # any application order
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=6)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    batches = [b for b in batches if b]
    size = data.draw(st.sampled_from([1, 2, 3, 1000]))
    settle = data.draw(st.sampled_from([0, 2, 1000]))
    with tempfile.TemporaryDirectory() as d:
        off = Store(Path(d, "off.db"), TOPIC, CallCache(0))
        on_path = Path(d, "on.db")
        writers = [Store(on_path, TOPIC, CallCache(size, settle)) for _ in range(2)]
        try:
            for b in batches:
                off.apply(b)
                what = data.draw(st.sampled_from(["apply", "other", "restart", "fail"]))
                if what == "restart":  # a cold cache, as after kill -9 or a restart
                    writers[0].close()
                    writers[0] = Store(on_path, TOPIC, CallCache(size, settle))
                elif what == "fail":  # the batch's transaction rolls back after writing
                    w = writers[0]

                    def boom(*_: Any) -> None:
                        raise Boom

                    w._record_rest = boom  # type: ignore[method-assign]
                    with pytest.raises(Boom):
                        w.apply(b)
                    del w._record_rest
                if what == "other":  # a second writer on the same file, then back
                    writers[1].apply(b)
                else:
                    writers[0].apply(b)
                assert snapshot(writers[0]) == snapshot(off)
        finally:
            off.close()
            for w in writers:
                w.close()


def test_a_write_by_another_connection_empties_the_cache(tmp_path: Path) -> None:
    """Two writers on one file, taking turns: each notices the other's commit (SQLite's
    data_version) and reads the call again instead of trusting what it remembered."""
    a = Store(tmp_path / "two.db", TOPIC)
    b = Store(tmp_path / "two.db", TOPIC)
    a.apply([(0, 0, callback(1, "ringing"))])
    b.apply([(0, 1, callback(2, "in-progress"))])
    a.apply([(0, 2, callback(3, "completed"))])
    (row,) = a.conn.execute("SELECT status, events_count, last_sequence_number FROM calls")
    assert row == ("completed", 3, 3)
    a.close()
    b.close()


def test_a_failed_batch_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    st = Store(tmp_path / "fail.db", TOPIC)
    st.apply([(0, 0, callback(1, "ringing"))])

    def boom(*_: Any) -> None:
        raise Boom

    st._record_rest = boom  # type: ignore[method-assign]
    with pytest.raises(Boom):
        st.apply([(0, 1, callback(2, "in-progress"))])
    assert len(st.cache) == 0
    del st._record_rest
    st.apply([(0, 2, callback(3, "in-progress"))])
    (row,) = st.conn.execute("SELECT events_count, last_sequence_number FROM calls")
    assert row == (2, 3)  # the rolled-back event counts for nothing
    st.close()


def test_the_size_setting_is_read_and_checked() -> None:
    from callstream.settings import Settings, SettingsError

    env = {"CALLSTREAM_PROJECTOR_CACHE_CALLS": "1200"}
    assert Settings.from_env(env).projector_cache_calls == 1200
    assert Settings.from_env({}).projector_cache_calls == 50_000
    assert Settings.from_env({"CALLSTREAM_PROJECTOR_CACHE_CALLS": "0"}).projector_cache_calls == 0
    for bad in ("-1", "lots", "²", "1" * 40, "20000000"):
        with pytest.raises(SettingsError, match="CALLSTREAM_PROJECTOR_CACHE_CALLS"):
            Settings.from_env({"CALLSTREAM_PROJECTOR_CACHE_CALLS": bad})
