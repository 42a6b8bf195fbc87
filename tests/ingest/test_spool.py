"""Broker down: callbacks go to the durable spool (204), then drain to the topic in order,
exactly once, when the broker is back. Also the spool file on its own, and 503."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from callstream import kafka_clients, topics
from callstream.broker import EmbeddedBroker
from callstream.settings import Settings
from ingest.publisher import Publisher
from ingest.spool import Spool
from tests.conftest import make_settings
from tests.helpers import read_topic, wait_until
from tests.ingest.conftest import SOCKET_LEAK_FILTER
from tests.ingest.support import call_sid, callback, post_callback, served_ingest


def test_spool_file_keeps_order_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s" / "spool.db"
    s = Spool(path)
    s.append_many([("t", b"k1", b"v1"), ("t", b"k2", b"v2")])
    s.append_many([("t", None, b"v3")])
    assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    s.close()
    s = Spool(path)
    rows = s.oldest(10)
    assert [r[1:] for r in rows] == [("t", b"k1", b"v1"), ("t", b"k2", b"v2"), ("t", None, b"v3")]
    s.delete_through(rows[1][0])
    assert s.count() == 1 and s.oldest(10)[0][3] == b"v3"
    assert s.writable()
    s.close()


@pytest.mark.slow
@pytest.mark.usefixtures("kafka_socket_leaks")
@pytest.mark.filterwarnings(SOCKET_LEAK_FILTER)
def test_broker_down_spools_then_drains_in_order_exactly_once(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = make_settings(fresh_broker.bootstrap, "tansu", tmp_path)
    kafka_clients.ensure_topics(settings)
    topic = settings.topic(topics.CALL_STATUS)
    sids = [call_sid(), call_sid()]
    with served_ingest(settings, ack_timeout_s=0.5) as (app, client):
        publisher: Publisher = app.state.publisher
        assert post_callback(client, callback(sids[0], "queued", 0)).status_code == 204
        fresh_broker.kill()
        sent = []
        for seq in range(1, 21):
            pairs = callback(sids[seq % 2], "ringing", seq)
            r = post_callback(client, pairs)
            assert r.status_code == 204, r.text
            sent.append(pairs)
        assert publisher.spooling and publisher.depth == 20
        assert publisher.spool is not None
        metrics = client.get("/metrics").text
        assert 'callstream_ingest_callbacks_total{outcome="spooled"} 20.0' in metrics
        assert "callstream_ingest_spool_depth 20.0" in metrics
        ready = client.get("/readyz").json()
        assert ready["kafka"] is False and ready["spool_writable"] is True
        # memory storage: the restarted broker has no topics until they are created again;
        # ingest must not auto-create them (4 partitions) in the meantime
        fresh_broker.restart()
        kafka_clients.ensure_topics(settings)
        wait_until(
            lambda: publisher.depth == 0 and not publisher.spooling,
            timeout=30,
            what="spool drained",
        )
        # back on the direct path
        after = callback(sids[0], "completed", 21)
        assert post_callback(client, after).status_code == 204
        assert 'outcome="produced"} 2.0' in client.get("/metrics").text
    records = read_topic(settings, topic, expect=21)
    records += read_topic(settings, topic, idle=0.5)[21:]  # nothing beyond
    assert len(records) == 21
    for sid in sids:
        got = [json.loads(r.value)["params"] for r in records if r.key == sid.encode()]
        want = [[list(p) for p in s] for s in [*sent, after] if dict(s)["CallSid"] == sid]
        assert got == want


@pytest.mark.usefixtures("kafka_socket_leaks")
@pytest.mark.filterwarnings(SOCKET_LEAK_FILTER)
def test_503_when_neither_kafka_nor_spool_can_take_it(
    fresh_broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: Settings = make_settings(fresh_broker.bootstrap, "tansu", tmp_path)
    kafka_clients.ensure_topics(settings)
    with served_ingest(settings, ack_timeout_s=0.3) as (app, client):
        publisher: Publisher = app.state.publisher
        assert publisher.spool is not None

        def disk_full(rows: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(publisher.spool, "append_many", disk_full)
        fresh_broker.kill()
        r = post_callback(client, callback(call_sid()))
        assert r.status_code == 503
        assert r.json()["error"] == "unavailable"
        assert publisher.depth == 0
        assert 'outcome="unavailable"} 1.0' in client.get("/metrics").text
