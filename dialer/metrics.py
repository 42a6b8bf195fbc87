"""The dialer's Prometheus metrics, on a registry of its own (one per dialer)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from callstream.metrics import labelled_counter, service_registry

# Label values that exist at 0 from the start, so that the first one after a start is an
# increase an alert can see (see callstream.metrics.labelled_counter).
RESULTS = ("created", "rejected", "in-doubt")
ANSWERS = ("created",)  # the others are HTTP statuses and error codes, added as they come
DEAD_LETTER_REASONS = (
    "rejected-by-twilio",
    "retries-exhausted",
    "in-doubt-not-found",
    "in-doubt-ambiguous",
    "in-doubt-unavailable",
    "unknown-account",
    "malformed",
)

_GAP_FACTORS = (0.5, 0.9, 0.99, 1.0, 1.005, 1.01, 1.015, 1.02, 1.03, 1.05, 1.1, 1.5, 2.0, 5.0)


class DialerMetrics:
    def __init__(self, interval_s: float) -> None:
        r = self.registry = service_registry()
        self.gaps = Histogram(
            "callstream_dialer_send_gap_seconds",
            "Time between the starts of successive create requests for one account "
            "(this process's monotonic clock)",
            buckets=tuple(round(f * interval_s, 6) for f in _GAP_FACTORS),
            registry=r,
        )
        self.outcomes, _ = labelled_counter(
            "callstream_dialer_outcomes", "Outcome records written, by result", "result", RESULTS, r
        )
        self.attempts, _ = labelled_counter(
            "callstream_dialer_create_attempts",
            "Create requests sent to Twilio, by answer",
            "answer",
            ANSWERS,
            r,
        )
        self.dead_letters, _ = labelled_counter(
            "callstream_dialer_dead_letters",
            "Records written to dialer.dead-letter",
            "reason",
            DEAD_LETTER_REASONS,
            r,
        )
        self.duplicates = Counter(
            "callstream_dialer_duplicates",
            "Requests skipped because their id already has an outcome",
            registry=r,
        )
        self.ledger_conflicts = Counter(
            "callstream_dialer_ledger_conflicts",
            "Ledger writes that found another writer's records before them",
            registry=r,
        )
        self.rebuilds = Counter(
            "callstream_dialer_ledger_rebuilds",
            "Ledger partitions read from the start",
            registry=r,
        )
        self.backlog = Gauge(
            "callstream_dialer_backlog",
            "Requests on owned partitions not yet finished (buffered plus not yet fetched)",
            registry=r,
        )
        self.partitions = Gauge(
            "callstream_dialer_assigned_partitions",
            "dialer.requests partitions owned",
            registry=r,
        )
