"""Prometheus metrics of one ingest app, in a registry of its own (so several apps in one
process, as in tests, do not collide).

Under ``callstream ingest --workers N`` (``ingest.workers``) the supervisor sets
``PROMETHEUS_MULTIPROC_DIR`` for its workers: prometheus-client then keeps every value in
files there, and ``registry``, what ``/metrics`` exports, collects every worker's from those
files, summed, so a scrape that reaches any worker sees the totals. The ``process_*`` and
``python_*`` series are left out then (they would describe one worker only)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from callstream.metrics import labelled_counter, service_registry

# prometheus-client's multiprocess mode: the directory of each worker's metric files
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Outcomes of a callback request: where it went, or why it was refused.
OUTCOMES = (
    "produced",  # acknowledged by Kafka
    "spooled",  # committed to the local spool
    "bad-signature",
    "wrong-account",
    "malformed",
    "too-large",
    "unsupported-media-type",
    "unavailable",  # neither Kafka nor the spool could take it (503)
    "unproducible",  # Kafka can never take this record (too large, invalid): refused
)
# POST /dial answers that exist at 0 from the start (others are added as they come)
DIAL_STATUSES = ("202", "400", "401", "413", "415", "503")


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = service_registry()
        _, self.outcome = labelled_counter(
            "callstream_ingest_callbacks",
            "Status callback requests by outcome",
            "outcome",
            OUTCOMES,
            self.registry,
        )
        self.produce_latency = Histogram(
            "callstream_ingest_produce_latency_seconds",
            "Time from handing a record to the Kafka producer to its acknowledgement",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.spool_depth = Gauge(
            "callstream_ingest_spool_depth",
            "Callbacks in the local spool waiting for Kafka",
            multiprocess_mode="livesum",  # --workers: the sum over live workers
            registry=self.registry,
        )
        self.spool_drained = Counter(
            "callstream_ingest_spool_drained",
            "Callbacks moved from the spool to Kafka",
            registry=self.registry,
        )
        self.spool_set_aside = Counter(
            "callstream_ingest_spool_set_aside",
            "Spooled callbacks moved to the dead-letter table because Kafka refuses them",
            registry=self.registry,
        )
        self.spool_dead = Gauge(
            "callstream_ingest_spool_dead",
            "Callbacks in the spool's dead-letter table (see 'callstream spool')",
            multiprocess_mode="livesum",  # --workers: the sum over live workers
            registry=self.registry,
        )
        self.dial_requests, _ = labelled_counter(
            "callstream_ingest_dial_requests",
            "POST /dial requests by HTTP status",
            "status",
            DIAL_STATUSES,
            self.registry,
        )
        if os.environ.get(MULTIPROC_ENV):
            self.registry = WorkersRegistry(self.registry)


class WorkersRegistry(CollectorRegistry):
    """What ``/metrics`` exports under ``--workers``: every worker's values, summed from
    prometheus-client's multiprocess files. Metrics made later with this registry (the
    voice route's counters) are registered in ``own`` like the others: their values reach
    the files all the same, and are not exported twice."""

    def __init__(self, own: CollectorRegistry) -> None:
        super().__init__()
        self._own = own
        super().register(MultiProcessCollector(None))  # type: ignore[no-untyped-call]

    def register(self, collector: Collector) -> None:
        self._own.register(collector)

    def unregister(self, collector: Collector) -> None:
        self._own.unregister(collector)
