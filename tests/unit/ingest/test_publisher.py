"""The publisher's Kafka-first, spool-behind rules with a fake producer: the broker down at
start, an acknowledgement that never comes, a record Kafka refuses, a spool that cannot
commit, and /dial's produce-and-wait. The same against a real, killed broker:
tests/ingest/test_spool.py and tests/ingest/test_poison.py."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from callstream import topics
from ingest.metrics import IngestMetrics
from ingest.publisher import Publisher, Rejected
from ingest.records import MAX_RECORD
from ingest.spool import Spool
from tests.ingest.support import FORM, call_sid, callback, form, sign
from tests.unit.ingest.fakes import (
    PUBLIC,
    Answer,
    FakeProducer,
    FakeProducerFactory,
    InProcess,
    running_ingest,
    size_refusal,
    unit_settings,
    until,
)


async def post(client: InProcess, pairs: list[tuple[str, str]]) -> Answer:
    h = (("Content-Type", FORM), ("X-Twilio-Signature", sign(PUBLIC + "/twilio/status", pairs)))
    return await client.request("POST", "/twilio/status", form(pairs), h)


def sids_of(producer: FakeProducer) -> list[str]:
    return [dict(json.loads(v)["params"])["SequenceNumber"] for _, _, v in producer.records]


def test_broker_down_at_start_spools_then_drains_in_order_exactly_once(tmp_path: Path) -> None:
    settings = unit_settings(tmp_path)
    factory = FakeProducerFactory(up=False)
    sid = call_sid()

    async def scenario() -> None:
        async with running_ingest(settings, factory) as (app, client):
            publisher: Publisher = app.state.publisher
            for seq in range(10):
                assert (await post(client, callback(sid, "ringing", seq))).status == 204
            assert publisher.spooling and publisher.depth == 10
            ready = json.loads((await client.request("GET", "/readyz")).body)
            assert ready["kafka"] is False and ready["spool_writable"] is True
            assert ready["spool_depth"] == 10
            metrics = (await client.request("GET", "/metrics")).body.decode()
            assert 'callstream_ingest_callbacks_total{outcome="spooled"} 10.0' in metrics
            factory.up = True
            await until(lambda: not publisher.spooling, what="spool drained")
            assert publisher.depth == 0
            assert (await post(client, callback(sid, "completed", 10))).status == 204
            metrics = (await client.request("GET", "/metrics")).body.decode()
            assert 'callstream_ingest_callbacks_total{outcome="produced"} 1.0' in metrics

    asyncio.run(scenario())
    assert sids_of(factory.producer) == [str(n) for n in range(11)]
    assert Spool(settings.spool).count() == 0


def test_no_acknowledgement_in_time_spools_and_drops_the_producer(tmp_path: Path) -> None:
    settings = unit_settings(tmp_path)
    silent = FakeProducer(mode="hold")
    factory = FakeProducerFactory(first=[silent])
    sid = call_sid()

    async def scenario() -> None:
        async with running_ingest(settings, factory, ack_timeout_s=0.05) as (app, client):
            publisher: Publisher = app.state.publisher
            assert (await post(client, callback(sid, "ringing", 0))).status == 204
            assert publisher.spooling and publisher.depth == 1
            await until(lambda: silent.closed, what="the silent producer closed")
            await until(lambda: not publisher.spooling, what="spool drained")

    asyncio.run(scenario())
    assert sids_of(factory.producer) == ["0"]
    assert factory.made == 2 and silent.records == []


def test_a_record_kafka_refuses_is_answered_413_and_never_spooled(tmp_path: Path) -> None:
    settings = unit_settings(tmp_path)
    factory = FakeProducerFactory(producer=FakeProducer("fail", size_refusal()))

    async def scenario() -> tuple[Answer, str]:
        async with running_ingest(settings, factory) as (app, client):
            r = await post(client, callback(call_sid()))
            assert app.state.publisher.spooling is False
            return r, (await client.request("GET", "/metrics")).body.decode()

    r, metrics = asyncio.run(scenario())
    assert (r.status, json.loads(r.body)["error"]) == (413, "record-too-large")
    assert 'callstream_ingest_callbacks_total{outcome="unproducible"} 1.0' in metrics
    assert Spool(settings.spool).count() == 0


def test_an_unproducible_record_is_never_spooled(tmp_path: Path) -> None:
    """Kafka up or known down: over ``MAX_RECORD`` is refused before the spool."""
    settings = unit_settings(tmp_path)
    factory = FakeProducerFactory()

    async def scenario() -> None:
        pub = Publisher(settings, IngestMetrics(), factory)
        await pub.start()
        try:
            with pytest.raises(Rejected) as e:
                await pub.publish(b"CA1", b"x" * (MAX_RECORD + 1))
            assert e.value.problem.status == 413
            pub.spooling = True  # as while Kafka is down
            with pytest.raises(Rejected):
                await pub.publish(b"CA1", b"x" * (MAX_RECORD + 1))
            assert pub.depth == 0
        finally:
            await pub.close()

    asyncio.run(scenario())
    assert Spool(settings.spool).count() == 0
    assert factory.producer.records == []


def test_503_when_neither_kafka_nor_spool_can_take_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = FakeProducerFactory(up=False)

    async def scenario() -> tuple[Answer, int, str]:
        async with running_ingest(unit_settings(tmp_path), factory) as (app, client):
            publisher: Publisher = app.state.publisher
            assert publisher.spool is not None

            def disk_full(rows: object) -> None:
                raise sqlite3.OperationalError("database or disk is full")

            monkeypatch.setattr(publisher.spool, "append_many", disk_full)
            r = await post(client, callback(call_sid()))
            metrics = (await client.request("GET", "/metrics")).body.decode()
            return r, publisher.depth, metrics

    r, depth, metrics = asyncio.run(scenario())
    assert (r.status, json.loads(r.body)["error"]) == (503, "unavailable")
    assert depth == 0
    assert 'outcome="unavailable"} 1.0' in metrics


def test_dial_waits_for_the_acknowledgement(tmp_path: Path) -> None:
    settings = unit_settings(tmp_path)
    factory = FakeProducerFactory()
    body = json.dumps({"to": "+14155551212", "from": "+15005550006", "url": PUBLIC + "/x"})

    async def scenario() -> Answer:
        async with running_ingest(settings, factory) as (_, client):
            h = (("Content-Type", "application/json"),)
            return await client.request("POST", "/dial", body.encode(), h)

    r = asyncio.run(scenario())
    assert r.status == 202, r.body
    ((topic, key, value),) = factory.producer.records
    assert topic == settings.topic(topics.DIALER_REQUESTS)
    assert key == (settings.twilio_account_sid or "").encode()
    assert json.loads(value)["id"] == json.loads(r.body)["id"]


def test_dial_is_503_while_kafka_is_down(tmp_path: Path) -> None:
    factory = FakeProducerFactory(up=False)
    body = json.dumps({"to": "+14155551212", "from": "+15005550006", "url": PUBLIC + "/x"})

    async def scenario() -> Answer:
        async with running_ingest(unit_settings(tmp_path), factory) as (_, client):
            h = (("Content-Type", "application/json"),)
            return await client.request("POST", "/dial", body.encode(), h)

    r = asyncio.run(scenario())
    assert (r.status, json.loads(r.body)["error"]) == (503, "unavailable")
    assert factory.producer.records == []
