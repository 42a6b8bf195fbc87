"""The consumer against a real broker: tables, offsets, a log that went backwards, rebuild."""

from __future__ import annotations

import io
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from callstream import kafka_clients, topics
from callstream.settings import Settings
from projector.consumer import LogWentBackwards, Projector
from projector.rebuild import RebuildError, rebuild
from projector.store import Store
from tests.conftest import make_settings
from tests.helpers import read_topic, wait_until
from tests.projector.support import call_log, produce, tables


def reference(settings: Settings, path: Path, n: int) -> dict[str, list[object]]:
    """The tables built by applying the topic's records in one go, read independently."""
    recs = read_topic(settings, settings.topic(topics.CALL_STATUS), expect=n)
    st = Store(path, settings.topic(topics.CALL_STATUS))
    st.apply([(r.partition, r.offset, r.value) for r in recs])
    out = tables(st.conn)
    st.close()
    return out  # type: ignore[return-value]


def project(settings: Settings, db: Path, **kw: object) -> Projector:
    st = Store(db, settings.topic(topics.CALL_STATUS))
    p = Projector(
        settings,
        st,
        kafka_clients.TANSU if settings.kafka_profile == "tansu" else kafka_clients.KAFKA,
        **kw,
    )  # type: ignore[arg-type]
    try:
        p.run(until_caught_up=True)
    finally:
        st.close()
    return p


def test_projects_the_log_and_stores_offsets(settings: Settings, tmp_path: Path) -> None:
    pairs = call_log(150)
    produce(settings, pairs[:300])
    project(settings, settings.db, max_poll_records=50)
    produce(settings, pairs[300:])
    p = project(settings, settings.db, max_poll_records=50)  # resumes from stored offsets
    assert p.progress.records == len(pairs) - 300
    with sqlite3.connect(settings.db) as conn:
        got = tables(conn)
    assert got == reference(settings, tmp_path / "ref.db", len(pairs))
    assert sum(o for _t, _p, o in got["projector_offsets"]) == len(pairs)  # type: ignore[misc]
    assert len(got["calls"]) == 150
    # the consumer group's offsets follow (advisory, for lag tools)
    from kafka import TopicPartition

    from projector.consumer import GROUP_ID

    c = kafka_clients.make_consumer(settings, kafka_clients.TANSU, client_id="t", group_id=GROUP_ID)
    try:
        t = settings.topic(topics.CALL_STATUS)
        group = {p: c.committed(TopicPartition(t, p)) for _t, p, _o in got["projector_offsets"]}  # type: ignore[misc]
    finally:
        c.close()
    assert group == {p: o for _t, p, o in got["projector_offsets"]}  # type: ignore[misc]


def test_rebuild_is_row_for_row_identical(settings: Settings, tmp_path: Path) -> None:
    produce(settings, call_log(120, seed=11))
    project(settings, settings.db)
    err = io.StringIO()
    counts = rebuild(settings, tmp_path / "new.db", kafka_clients.TANSU, out=err)
    assert counts["calls"] == 120
    assert "records" in err.getvalue() and "/s" in err.getvalue() and "ETA" in err.getvalue()
    with sqlite3.connect(settings.db) as a, sqlite3.connect(tmp_path / "new.db") as b:
        assert tables(a) == tables(b)
    assert not (tmp_path / "new.db.partial").exists()
    with pytest.raises(RebuildError, match="already exists"):
        rebuild(settings, tmp_path / "new.db", kafka_clients.TANSU, out=err)


def test_a_log_that_went_backwards_stops_the_projector(
    fresh_broker: object, tmp_path: Path
) -> None:
    s = make_settings(fresh_broker.bootstrap, "tansu", tmp_path)  # type: ignore[attr-defined]
    kafka_clients.ensure_topics(s)
    produce(s, call_log(40))
    project(s, s.db)
    fresh_broker.restart()  # type: ignore[attr-defined]  # memory storage: the log is gone
    kafka_clients.ensure_topics(s)
    produce(s, call_log(2))
    with pytest.raises(LogWentBackwards, match="callstream rebuild"):
        project(s, s.db)


def test_readiness_follows_the_log(settings: Settings, tmp_path: Path) -> None:
    st = Store(settings.db, settings.topic(topics.CALL_STATUS))
    p = Projector(settings, st, kafka_clients.TANSU)
    t = threading.Thread(target=p.run, daemon=True)
    t.start()
    try:
        wait_until(p.progress.caught_up, what="caught up on an empty topic")
        pairs = call_log(30)
        produce(settings, pairs)
        wait_until(
            lambda: p.progress.records >= len(pairs) and p.progress.caught_up(),
            what="caught up after new records",
        )
        assert p.progress.newest_age_s() is not None
    finally:
        p.stop()
        t.join(timeout=10)
        st.close()


def test_rebuild_command(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from callstream.cli import main

    produce(settings, call_log(10, seed=3))
    for var, value in (
        ("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers or ""),
        ("CALLSTREAM_KAFKA_PROFILE", settings.kafka_profile or ""),
        ("CALLSTREAM_TOPIC_PREFIX", settings.topic_prefix),
    ):
        monkeypatch.setenv(var, value)
    new = tmp_path / "rebuilt.db"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:  # the command configures logging for its process; keep pytest's afterwards
        assert main(["rebuild", "--db", str(new)]) == 0
        out = capsys.readouterr()
        assert "calls\t10 rows" in out.out and "ETA" in out.err
        assert main(["rebuild", "--db", str(new)]) == 2
        assert "already exists" in capsys.readouterr().err
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def _running(settings: Settings, db: Path) -> tuple[Projector, threading.Thread, Store]:
    st = Store(db, settings.topic(topics.CALL_STATUS))
    profile = kafka_clients.TANSU if settings.kafka_profile == "tansu" else kafka_clients.KAFKA
    p = Projector(settings, st, profile)
    t = threading.Thread(target=p.run, daemon=True)
    t.start()
    return p, t, st


def test_partitions_that_appear_while_running_are_consumed_from_their_start(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The projector starts seeing only partitions 0-2 (as if the topic had three), then
    its periodic look at the metadata finds the other three and reads them from offset 0."""
    import projector.consumer as consumer_module

    monkeypatch.setattr(consumer_module, "LOOK_FOR_PARTITIONS_EVERY_S", 0.2)
    real = Projector._partitions

    def first_three(self: Projector, consumer: object, wait_s: float) -> list[int]:
        return [p for p in real(self, consumer, wait_s) if p < 3]

    monkeypatch.setattr(Projector, "_partitions", first_three)
    pairs = call_log(90, seed=8)
    produce(settings, pairs)
    p, t, st = _running(settings, settings.db)
    try:
        wait_until(
            lambda: len(p.progress.partitions) == 6 and p.progress.caught_up(),
            timeout=30,
            what="all partitions applied",
        )
    finally:
        p.stop()
        t.join(timeout=10)
        st.close()
    with sqlite3.connect(settings.db) as conn:
        got = tables(conn)
    assert got == reference(settings, tmp_path / "ref.db", len(pairs))


def test_partitions_added_to_the_topic_are_consumed(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real ``CreatePartitions`` (kafka-topics --alter) while the projector runs."""
    from kafka.errors import IncompatibleBrokerVersion, UnsupportedVersionError

    import projector.consumer as consumer_module

    monkeypatch.setattr(consumer_module, "LOOK_FOR_PARTITIONS_EVERY_S", 0.2)
    topic = settings.topic(topics.CALL_STATUS)
    produce(settings, call_log(30, seed=4))
    p, t, st = _running(settings, settings.db)
    admin = kafka_clients.make_admin(settings)
    try:
        wait_until(p.progress.caught_up, timeout=30, what="caught up")
        before = len(p.progress.partitions)
        try:
            admin.create_partitions({topic: before + 2})
        except (IncompatibleBrokerVersion, UnsupportedVersionError) as e:
            pytest.skip(f"this broker cannot add partitions (CreatePartitions: {e})")
        pairs = call_log(300, seed=12)
        produce(settings, pairs)  # keys now spread over the new partitions too
        wait_until(
            lambda: len(p.progress.partitions) == before + 2 and p.progress.caught_up(),
            timeout=60,
            what="the new partitions applied",
        )
    finally:
        admin.close()
        p.stop()
        t.join(timeout=10)
        st.close()
    n = len(call_log(30, seed=4)) + len(pairs)
    with sqlite3.connect(settings.db) as conn:
        got = tables(conn)
    assert {part for _t, part, _o in got["projector_offsets"]} == set(range(before + 2))  # type: ignore[misc]
    assert got == reference(settings, tmp_path / "ref.db", n)
