"""Archive and restore against real brokers: byte-exact round trips, refusals that write
nothing, a kill -9 of the archiver, a replaced log, the service's health routes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from callstream import kafka_clients, topics
from callstream.archive import Archiver, ArchiverError
from callstream.archive_format import NotRestorable
from callstream.archive_store import ArchiveStore
from callstream.broker import EmbeddedBroker, free_port
from callstream.restore import restore
from callstream.settings import Settings
from tests.brokers import TestBroker
from tests.conftest import make_settings
from tests.helpers import read_topic, wait_until

Rec = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]], int]

records = st.lists(
    st.tuples(
        st.integers(0, 5),  # partition of twilio.call-status (6 partitions)
        st.one_of(st.none(), st.binary(max_size=16)),
        st.one_of(st.none(), st.just(b""), st.binary(max_size=64)),
        st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=3),
        st.integers(0, 2**41),
    ).filter(lambda r: r[1] is not None or r[2] is not None),
    max_size=40,
)


def produce_exact(s: Settings, topic: str, recs: list[Rec]) -> list[tuple[Any, ...]]:
    """Send ``recs``; return (partition, offset, timestamp, key, value, headers) of each."""
    p = kafka_clients.make_producer(s, "test-archive")
    try:
        futs = [
            p.send(topic, key=k, value=v, headers=h, partition=part, timestamp_ms=ts)
            for part, k, v, h, ts in recs
        ]
        p.flush(timeout=30)
        metas = [f.get(timeout=10) for f in futs]
    finally:
        p.close(timeout=5)
    return sorted(
        (m.partition, m.offset, ts, k, v, tuple(h))
        for m, (_, k, v, h, ts) in zip(metas, recs, strict=True)
    )


def as_tuples(recs: list[Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (r.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers or ())) for r in recs
    )


def archive_once(s: Settings) -> int:
    store = ArchiveStore(s.archive)
    try:
        a = Archiver(
            s, store, kafka_clients.TANSU if s.kafka_profile == "tansu" else kafka_clients.KAFKA
        )
        a.run(once=True)
        return a.progress.records
    finally:
        store.close()


def restore_into(s: Settings) -> None:
    store = ArchiveStore(s.archive, readonly=True)
    try:
        restore(s, store, out=io.StringIO())
    finally:
        store.close()


@hsettings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(recs=records)
def test_round_trip_is_byte_exact(broker: TestBroker, recs: list[Rec]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = make_settings(
            broker.bootstrap, broker.profile.name, Path(tmp), archive=str(Path(tmp) / "a.db")
        )
        kafka_clients.ensure_topics(src)
        topic = src.topic(topics.CALL_STATUS)
        sent = produce_exact(src, topic, recs)
        assert archive_once(src) == len(recs)
        with EmbeddedBroker() as target:
            dst = replace(src, kafka_bootstrap_servers=target.bootstrap, kafka_profile="tansu")
            restore_into(dst)
            got = read_topic(dst, topic, expect=len(recs)) if recs else []
            assert as_tuples(got) == sent


def env_of(s: Settings) -> dict[str, str]:
    """The environment of a callstream command for these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "KAFKA_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=s.kafka_bootstrap_servers or "",
        CALLSTREAM_TOPIC_PREFIX=s.topic_prefix,
        CALLSTREAM_ARCHIVE=str(s.archive),
        CALLSTREAM_KAFKA_PROFILE=s.kafka_profile or "tansu",
    )
    return env


def cli(s: Settings, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callstream", *argv],
        env=env_of(s),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def archive_service(s: Settings, port: int) -> subprocess.Popen[str]:
    """``callstream archive`` as a service, once it answers ``/readyz``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "callstream", "archive", "--port", str(port)],
        env=env_of(s),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _ready(port), timeout=30, what="archiver ready")
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def test_restore_refuses_a_non_empty_topic_and_writes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    s = replace(settings, archive=tmp_path / "a.db")
    topic = s.topic(topics.CALL_STATUS)
    produce_exact(s, topic, [(1, b"k", b"v", [], 1000)] * 5)
    assert cli(s, "archive", "--once").returncode == 0
    r = cli(s, "restore")  # into the same, non-empty topics
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert f"{topic} is not empty" in r.stderr and "nothing was written" in r.stderr
    assert len(read_topic(s, topic, idle=0.5)) == 5


def test_restore_refuses_another_partition_count_and_writes_nothing(
    broker: TestBroker, fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    from kafka.admin import NewTopic

    s = make_settings(broker.bootstrap, broker.profile.name, tmp_path, archive=str(tmp_path / "a"))
    kafka_clients.ensure_topics(s)
    topic = s.topic(topics.CALL_STATUS)
    produce_exact(s, topic, [(p, b"k", b"v", [], 1000) for p in range(6)])
    archive_once(s)
    dst = replace(s, kafka_bootstrap_servers=fresh_broker.bootstrap, kafka_profile="tansu")
    admin = kafka_clients.make_admin(dst)
    try:
        admin.create_topics([NewTopic(topic, 4, 1)])
    finally:
        admin.close()
    r = cli(dst, "restore")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{topic} has 4 partitions but the archive has 6" in r.stderr
    assert read_topic(dst, topic, idle=0.5) == []
    admin = kafka_clients.make_admin(dst)
    try:
        assert set(admin.list_topics()) == {topic}  # nothing else created either
    finally:
        admin.close()


def test_restore_refuses_an_archive_with_a_gap(settings: Settings, tmp_path: Path) -> None:
    s = replace(settings, archive=tmp_path / "a.db")
    produce_exact(s, s.topic(topics.CALL_STATUS), [(0, b"k", b"v", [], 1)] * 3)
    archive_once(s)
    store = ArchiveStore(s.archive)
    store.conn.execute('DELETE FROM records WHERE "offset" = 1')
    store.conn.commit()
    with pytest.raises(NotRestorable, match="partition 0 has a gap at offset 1"):
        restore(s, store, out=io.StringIO())
    store.close()


def test_archiver_killed_mid_stream_resumes_without_gap_or_duplicate(
    settings: Settings, tmp_path: Path
) -> None:
    s = replace(settings, archive=tmp_path / "a.db")
    topic = s.topic(topics.CALL_STATUS)
    proc = archive_service(s, free_port())
    try:
        batch = [(i % 6, b"k%d" % i, b"v" * 200, [("h", b"%d" % i)], i) for i in range(3000)]
        produce_exact(s, topic, batch)
        produce_exact(s, topic, batch)
        wait_until(lambda: _archived(s.archive) > 0, timeout=30, what="some records archived")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        produce_exact(s, topic, batch)
    finally:
        stop(proc)
    assert cli(s, "archive", "--once").returncode == 0
    store = ArchiveStore(s.archive, readonly=True)
    try:
        archived = sorted(
            (r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
            for r in store.records(topic)
        )
    finally:
        store.close()
    log = as_tuples(read_topic(s, topic, expect=9000))
    assert archived == log  # every record once, none missing


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _archived(path: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(path) as c:
            return int(c.execute("SELECT COUNT(*) FROM records").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_archiver_refuses_a_replaced_or_shorter_log(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    s = make_settings(fresh_broker.bootstrap, "tansu", tmp_path, archive=str(tmp_path / "a"))
    kafka_clients.ensure_topics(s)
    topic = s.topic(topics.CALL_STATUS)
    produce_exact(s, topic, [(0, b"k", b"old", [], 1)] * 3)
    archive_once(s)
    fresh_broker.restart()  # memory storage: the log is gone
    kafka_clients.ensure_topics(s)
    produce_exact(s, topic, [(0, b"k", b"new", [], 1)] * 1)
    with pytest.raises(ArchiverError, match="the log went backwards"):
        archive_once(s)
    produce_exact(s, topic, [(0, b"k", b"new", [], 1)] * 4)
    with pytest.raises(ArchiverError, match="holds a different record at offset 2"):
        archive_once(s)


def test_the_service_reports_health_and_lag(settings: Settings, tmp_path: Path) -> None:
    s = replace(settings, archive=tmp_path / "a.db")
    topic = s.topic(topics.CALL_STATUS)
    produce_exact(s, topic, [(2, b"k", b"v", [], 1)] * 7)
    port = free_port()
    proc = archive_service(s, port)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/livez").json() == {"status": "ok"}
        wait_until(lambda: httpx.get(base + "/readyz").json()["records"] == 7)
        metrics = httpx.get(base + "/metrics").text
        assert f'callstream_archive_lag{{partition="2",topic="{topic}"}} 0.0' in metrics
        assert "callstream_archive_records_total 7.0" in metrics
        assert httpx.get(base + "/nope").json()["error"] == "not-found"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        stop(proc)


def test_bad_archive_files_get_one_line(settings: Settings, tmp_path: Path) -> None:
    s = replace(settings, archive=tmp_path / "missing.db")
    r = cli(s, "restore")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "no archive at" in r.stderr
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    r = cli(replace(s, archive=tmp_path / "junk.db"), "archive", "--once")
    assert r.returncode == 2 and "is not a usable callstream archive" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(replace(s, archive=tmp_path / "no" / "dir.db"), "archive", "--once")
    assert r.returncode == 2 and "does not exist" in r.stderr
