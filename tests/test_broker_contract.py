"""The broker contract: what callstream relies on from any Kafka-wire broker.

Runs on the session's broker (embedded, container or external, see tests/brokers.py); the
container variant at the end runs the same checks on a testcontainers Kafka when Docker
answers and is skipped with the reason otherwise.
"""

from __future__ import annotations

import uuid

import pytest
from kafka import TopicPartition
from kafka.admin import NewTopic

from callstream import kafka_clients
from callstream.settings import Settings
from tests.brokers import TestBroker, docker_answers, start_backend
from tests.helpers import read_topic


def _topic(settings: Settings, partitions: int = 3) -> str:
    name = f"{settings.topic_prefix}contract.{uuid.uuid4().hex[:6]}"
    admin = kafka_clients.make_admin(settings)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def check_keyed_order(settings: Settings) -> None:
    topic = _topic(settings)
    p = kafka_clients.make_producer(settings, "contract")
    keys = [f"CA{i:032x}".encode() for i in range(5)]
    for i in range(50):
        p.send(topic, key=keys[i % 5], value=f"{i}".encode())
    p.flush()
    p.close()
    recs = read_topic(settings, topic, expect=50)
    by_key: dict[bytes, list[int]] = {}
    parts: dict[bytes, set[int]] = {}
    for r in recs:
        by_key.setdefault(r.key, []).append(int(r.value))
        parts.setdefault(r.key, set()).add(r.partition)
    assert set(by_key) == set(keys)
    for k, vals in by_key.items():
        assert vals == sorted(vals), f"records for {k!r} out of order"
        assert len(parts[k]) == 1, "one key must map to one partition"


def check_group_resume(settings: Settings, profile: kafka_clients.BrokerProfile) -> None:
    topic = _topic(settings, partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    p = kafka_clients.make_producer(settings, "contract")
    for i in range(10):
        p.send(topic, key=b"k", value=str(i).encode()).get(timeout=10)
    c = kafka_clients.make_consumer(settings, profile, "c1", group_id=group)
    c.subscribe([topic])
    got: list[int] = []
    while len(got) < 6:
        for recs in c.poll(timeout_ms=500, max_records=6 - len(got)).values():
            got.extend(int(r.value) for r in recs)
    c.commit()
    c.close()
    for i in range(10, 12):
        p.send(topic, key=b"k", value=str(i).encode()).get(timeout=10)
    p.close()
    c2 = kafka_clients.make_consumer(settings, profile, "c2", group_id=group)
    c2.subscribe([topic])
    rest: list[int] = []
    for _ in range(100):
        for recs in c2.poll(timeout_ms=200).values():
            rest.extend(int(r.value) for r in recs)
        if len(rest) >= 6:
            break
    c2.close()
    assert got == list(range(6))
    assert rest == list(range(6, 12)), "a restarted group member resumes after its commit"


def check_idempotent_producer(settings: Settings) -> None:
    topic = _topic(settings, partitions=1)
    p = kafka_clients.make_producer(settings, "contract")
    metas = [p.send(topic, key=b"k", value=b"x%d" % i).get(timeout=10) for i in range(3)]
    assert [m.offset for m in metas] == [0, 1, 2]
    assert p.config["enable_idempotence"] is True
    assert p.config["acks"] == -1  # kafka-python stores 'all' as -1
    p.close()
    c = kafka_clients.make_consumer(settings, kafka_clients.TANSU, "reader")
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    vals: list[bytes] = []
    for _ in range(50):
        for recs in c.poll(timeout_ms=100).values():
            vals.extend(r.value for r in recs)
        if len(vals) >= 3:
            break
    c.close()
    assert vals == [b"x0", b"x1", b"x2"]


def test_keyed_records_keep_order_in_one_partition(settings: Settings) -> None:
    check_keyed_order(settings)


def test_consumer_group_resumes_after_restart(settings: Settings, broker: TestBroker) -> None:
    check_group_resume(settings, broker.profile)


def test_idempotent_producer_acks_all(settings: Settings) -> None:
    check_idempotent_producer(settings)


def test_topics_are_created_with_their_partitions(settings: Settings) -> None:
    assert kafka_clients.ensure_topics(settings) == []  # idempotent: all exist already
    admin = kafka_clients.make_admin(settings)
    try:
        desc = {
            t["name"]: len(t["partitions"])
            for t in admin.describe_topics([s.name for s in settings.topic_specs])
        }
    finally:
        admin.close()
    assert desc == {s.name: s.partitions for s in settings.topic_specs}


@pytest.mark.container
def test_same_contract_on_a_container_kafka(tmp_path: object) -> None:
    ok, why = docker_answers()
    if not ok:
        pytest.skip(f"container backend not tested: {why}")
    from tests.conftest import make_settings

    with start_backend("container") as b:
        s = make_settings(b.bootstrap, b.profile.name, tmp_path)  # type: ignore[arg-type]
        kafka_clients.ensure_topics(s)
        check_keyed_order(s)
        check_group_resume(s, b.profile)
        check_idempotent_producer(s)


def test_log_and_ledger_topics_are_kept_until_an_operator_decides(settings: Settings) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = kafka_clients.make_admin(settings)
    try:
        for spec in settings.topic_specs:
            res = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, spec.name)], config_filter="all"
            )
            retention = res["topic"][spec.name].get("retention.ms", {}).get("value")
            if spec.name.endswith(("twilio.call-status", "dialer.ledger", "dialer.outcomes")):
                assert retention == "-1", spec.name
    finally:
        admin.close()
