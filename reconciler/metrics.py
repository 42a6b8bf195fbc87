"""The reconciler's Prometheus metrics (docs/reconciliation.md, *Metrics*)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from callstream.metrics import labelled_counter, service_registry

ASK_RESULTS = ("terminal", "live", "not-found", "rate-limited", "failed")


class ReconcilerMetrics:
    def __init__(self) -> None:
        self.registry = service_registry()
        r = self.registry
        self.asks, self.ask = labelled_counter(
            "callstream_reconciler_requests_total",
            "REST fetches of a call, by what Twilio answered",
            "result",
            ASK_RESULTS,
            r,
        )
        self.snapshots = Counter(
            "callstream_reconciler_snapshots_total",
            "snapshot envelopes appended to twilio.call-status",
            registry=r,
        )
        self.given_up = Counter(
            "callstream_reconciler_given_up_total",
            "calls given up after the attempt bound with no terminal answer",
            registry=r,
        )
        self.records = Counter(
            "callstream_reconciler_records_total",
            "records read from twilio.call-status and dialer.outcomes",
            registry=r,
        )
        self.pending = Gauge(
            "callstream_reconciler_pending_calls",
            "calls the reconciler will ask about again",
            registry=r,
        )
        self.concurrent = Gauge(
            "callstream_reconciler_twilio_concurrent_requests",
            "the last Twilio-Concurrent-Requests header Twilio sent",
            registry=r,
        )
        self.lag = Gauge(
            "callstream_reconciler_overdue_seconds",
            "how late the most overdue pending ask is (0: keeping up)",
            registry=r,
        )
