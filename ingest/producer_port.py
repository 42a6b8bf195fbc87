"""The publisher's Kafka port: what :class:`ingest.publisher.Publisher` needs from a
producer, and the factory that makes the real one.

The publisher never builds a Kafka client itself; it calls its ``producer_factory`` (in a
thread) whenever it needs a new producer: at start, and after the broker was found down.
``ingest.bootstrap`` passes :class:`KafkaProducerFactory`; the unit tests pass an
in-memory fake (tests/unit/ingest/fakes.py) and run every route with no broker.
"""

from __future__ import annotations

from typing import Any, Protocol

from kafka import KafkaAdminClient

from callstream import kafka_clients, reach, topics
from callstream.settings import Settings
from ingest.records import check_producer_limit

# while the broker is down the drain loop calls the factory every 0.1-2 s: a short probe
PROBE_TIMEOUT_S = 1.0


class Producer(Protocol):
    """The part of ``kafka.KafkaProducer`` the publisher uses. ``send`` returns a future
    with ``add_callback``/``add_errback`` (kafka-python's ``FutureRecordMetadata``)."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any: ...

    def close(self, timeout: float | None = None) -> None: ...


class ProducerFactory(Protocol):
    """Makes a connected producer, or raises why it cannot (the broker is down, the topic is
    missing). Called in a worker thread; may block for a few seconds."""

    max_request_size: int

    def __call__(self) -> Producer: ...


class KafkaProducerFactory:
    """kafka-python producers for ingest: refuses to produce to a topic that does not exist
    (kafka-python would auto-create it with the broker's default partition count)."""

    def __init__(
        self,
        settings: Settings,
        client_id: str = "callstream-ingest",
        producer_options: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.topic = settings.topic(topics.CALL_STATUS)
        # linger 1 ms rather than the shared 5: each callback's answer waits for its batch,
        # and batches fill anyway from the records handed over per loop iteration and
        # those waiting while a produce request is in flight (measured: lower latency at
        # 200/s, and as much or more throughput at saturation; docs/benchmarks.md)
        self.options = {"max_block_ms": 2000, "linger_ms": 1, **(producer_options or {})}
        self.max_request_size = int(
            kafka_clients.producer_config(**self.options)["max_request_size"]
        )
        check_producer_limit(self.max_request_size)

    def __call__(self) -> Producer:
        bootstrap = kafka_clients.bootstrap(self.settings)
        reach.probe(bootstrap, PROBE_TIMEOUT_S)
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id=self.client_id + "-admin",
            request_timeout_ms=5000,
        )
        try:
            existing = set(admin.list_topics())
        finally:
            admin.close()
        if self.topic not in existing:
            raise LookupError(f"topic {self.topic} does not exist (run 'callstream topics')")
        producer = kafka_clients.make_producer(self.settings, self.client_id, **self.options)
        try:
            producer.partitions_for(self.topic)  # metadata cached: send() will not block
            dial_topic = self.settings.topic(topics.DIALER_REQUESTS)
            if dial_topic in existing:
                producer.partitions_for(dial_topic)
            events_topic = self.settings.topic(topics.TWILIO_EVENTS)
            if events_topic in existing:
                producer.partitions_for(events_topic)
        except BaseException:
            producer.close(timeout=0)
            raise
        return producer  # type: ignore[no-any-return]
