"""The reconciler's Prometheus metrics (docs/reconciliation.md, *Metrics*)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from callstream.metrics import labelled_counter, service_registry

ASK_RESULTS = ("terminal", "live", "not-found", "rate-limited", "failed")
P = "callstream_reconciler_"


class ReconcilerMetrics:
    def __init__(self) -> None:
        self.registry = r = service_registry()
        self.asks, self.ask = labelled_counter(
            P + "requests_total",
            "REST fetches of a call, by what Twilio answered",
            "result",
            ASK_RESULTS,
            r,
        )
        count = {
            "snapshots": "snapshot envelopes appended to twilio.call-status",
            "given_up": "calls given up after the attempt bound with no terminal answer",
            "records": "records read from twilio.call-status and dialer.outcomes",
        }
        self.snapshots, self.given_up, self.records = (
            Counter(f"{P}{name}_total", doc, registry=r) for name, doc in count.items()
        )
        gauge = {
            "pending_calls": "calls the reconciler will ask about again",
            "twilio_concurrent_requests": "the last Twilio-Concurrent-Requests header Twilio sent",
            "overdue_seconds": "how late the most overdue pending ask is (0: keeping up)",
        }
        self.pending, self.concurrent, self.lag = (
            Gauge(P + name, doc, registry=r) for name, doc in gauge.items()
        )
