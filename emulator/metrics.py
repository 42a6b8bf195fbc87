"""Prometheus metrics of one emulator app (its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.creates = Counter(
            "emulator_create_requests_total",
            "Call-create requests received, by HTTP status answered",
            ["status"],
            registry=self.registry,
        )
        self.calls = Counter(
            "emulator_calls_total",
            "Call legs created, by direction",
            ["direction"],
            registry=self.registry,
        )
        self.callbacks = Counter(
            "emulator_callbacks_total",
            "Status-callback deliveries, by result (delivered, http-NNN, connect-failed, ...)",
            ["result"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "emulator_queue_depth", "Calls waiting in the CPS queues", registry=self.registry
        )
