"""Kafka client factories with settings that suit each broker backend.

Two backend profiles:

* ``tansu`` (the embedded broker): its JoinGroup waits ``session_timeout / 2``, so a short
  session keeps joins near 1 s; a waiting fetch is not answered early, so a short
  ``fetch_max_wait_ms`` keeps end-to-end latency low.
* ``kafka`` (Apache Kafka): brokers refuse sessions under ``group.min.session.timeout.ms``
  (6000 by default).

The profile is taken from ``CALLSTREAM_KAFKA_PROFILE`` or detected from the cluster id
(Tansu reports ``tansu_cluster``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from callstream.settings import Settings, SettingsError
from callstream.topics import TopicSpec

log = logging.getLogger("callstream.kafka_clients")


@dataclass(frozen=True)
class BrokerProfile:
    name: str
    session_timeout_ms: int
    heartbeat_interval_ms: int
    fetch_max_wait_ms: int


TANSU = BrokerProfile(
    "tansu", session_timeout_ms=2000, heartbeat_interval_ms=500, fetch_max_wait_ms=50
)
KAFKA = BrokerProfile(
    "kafka", session_timeout_ms=6000, heartbeat_interval_ms=1500, fetch_max_wait_ms=100
)
PROFILES = {"tansu": TANSU, "kafka": KAFKA}

TANSU_CLUSTER_ID = "tansu_cluster"


def bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise SettingsError(
            "KAFKA_BOOTSTRAP_SERVERS is not set: start a broker with 'callstream broker' "
            "(or run everything with 'callstream up') and set it to the address printed"
        )
    return settings.kafka_bootstrap_servers


def detect_profile(settings: Settings, timeout_s: float = 10.0) -> BrokerProfile:
    """The configured profile, or the one matching the cluster's id."""
    if settings.kafka_profile:
        return PROFILES[settings.kafka_profile]
    admin = make_admin(settings, timeout_s=timeout_s)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    return TANSU if cluster.get("cluster_id") == TANSU_CLUSTER_ID else KAFKA


def service_profile(settings: Settings) -> BrokerProfile:
    """:func:`detect_profile` for a service starting up (after its probe of the broker):
    a broker that answered the probe but not Kafka's own requests is one line
    (:class:`callstream.broker.BrokerError`), not a traceback."""
    from callstream.broker import BrokerError

    try:
        return detect_profile(settings)
    except Exception as e:
        raise BrokerError(f"cannot reach Kafka at {bootstrap(settings)}: {e}") from None


def make_admin(settings: Settings, timeout_s: float = 10.0) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap(settings),
        client_id="callstream-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )


def producer_config(**overrides: Any) -> dict[str, Any]:
    """The durable producer settings: every record acknowledged by all in-sync replicas,
    idempotent (no duplicates from the client's own retries), lightly batched."""
    cfg: dict[str, Any] = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 65536,
        "max_request_size": 1048576,
        "request_timeout_ms": 10000,
        "delivery_timeout_ms": 30000,
        "max_block_ms": 10000,
        "retry_backoff_ms": 100,
        "reconnect_backoff_max_ms": 1000,
    }
    cfg.update(overrides)
    return cfg


def make_producer(settings: Settings, client_id: str, **overrides: Any) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap(settings), client_id=client_id, **producer_config(**overrides)
    )


def produce_and_wait(
    producer: KafkaProducer,
    topic: str,
    value: bytes,
    key: bytes | None = None,
    *,
    timeout_s: float,
    partition: int | None = None,
) -> Any:
    """Send one record and block until the broker acknowledges it; return its
    ``RecordMetadata`` (offset, partition), or raise what the send failed with
    (``KafkaTimeoutError`` when no acknowledgement comes within ``timeout_s``). For
    one-shot commands and writers that must know a record is durable before going on."""
    return producer.send(topic, value=value, key=key, partition=partition).get(timeout=timeout_s)


def consumer_config(profile: BrokerProfile, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "session_timeout_ms": profile.session_timeout_ms,
        "heartbeat_interval_ms": profile.heartbeat_interval_ms,
        "fetch_max_wait_ms": profile.fetch_max_wait_ms,
        "max_poll_interval_ms": 300000,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "reconnect_backoff_max_ms": 1000,
    }
    cfg.update(overrides)
    return cfg


def make_consumer(
    settings: Settings,
    profile: BrokerProfile,
    client_id: str,
    group_id: str | None = None,
    **overrides: Any,
) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap(settings),
        client_id=client_id,
        group_id=group_id,
        **consumer_config(profile, **overrides),
    )


def ensure_topics(
    settings: Settings, specs: Iterable[TopicSpec] | None = None, timeout_s: float = 10.0
) -> list[str]:
    """Create the topics that are missing; return the names created. Idempotent."""
    specs = list(settings.topic_specs if specs is None else specs)
    admin = make_admin(settings, timeout_s=timeout_s)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, 1, topic_configs=dict(spec.configs))]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        if missing:
            _wait_for_metadata(admin, [s.name for s in missing], timeout_s)
        return created
    finally:
        admin.close()


def _wait_for_metadata(admin: KafkaAdminClient, names: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if set(names) <= set(admin.list_topics()):
            return
        time.sleep(0.05)
    raise TimeoutError(f"topics not visible after {timeout_s} s: {names}")
