"""Prometheus metrics of one emulator app (its own registry)."""

from __future__ import annotations

from prometheus_client import Gauge

from callstream.metrics import labelled_counter, service_registry

# Label values that exist at 0 from the start; others are added as they come.
CREATE_STATUSES = ("201", "400", "429", "500")
DIRECTIONS = ("outbound-api", "inbound", "outbound-dial")
CALLBACK_RESULTS = ("delivered", "connect-failed")


class Metrics:
    def __init__(self) -> None:
        self.registry = service_registry()
        self.creates, _ = labelled_counter(
            "emulator_create_requests",
            "Call-create requests received, by HTTP status answered",
            "status",
            CREATE_STATUSES,
            self.registry,
        )
        self.calls, _ = labelled_counter(
            "emulator_calls",
            "Call legs created, by direction",
            "direction",
            DIRECTIONS,
            self.registry,
        )
        self.callbacks, _ = labelled_counter(
            "emulator_callbacks",
            "Status-callback deliveries, by result (delivered, http-NNN, connect-failed, ...)",
            "result",
            CALLBACK_RESULTS,
            self.registry,
        )
        self.queue_depth = Gauge(
            "emulator_queue_depth", "Calls waiting in the CPS queues", registry=self.registry
        )
