"""The projector's Prometheus metrics: the consumer's progress, computed at scrape time,
and the process metrics of both of its processes."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from callstream.metrics import service_registry
from projector.progress import Progress


def projector_registry(consumer_pid: int | None = None) -> CollectorRegistry:
    """``process_*`` of the consumer's process (the one an operator starts and whose memory
    grows with the work), and ``callstream_projector_api_process_*`` of the API process
    serving the scrape. Without ``consumer_pid`` (the API in-process, as in tests) both are
    this process."""
    pid = consumer_pid
    registry = service_registry(process_pid=(lambda: pid) if pid is not None else None, gc=False)
    if pid is not None and pid != os.getpid():
        ProcessCollector(namespace="callstream_projector_api", registry=registry)
    return registry


class ProgressCollector(Collector):
    """Prometheus view of the consumer's progress, computed at scrape time."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def collect(self) -> Any:
        p = self.progress
        lag = GaugeMetricFamily(
            "callstream_projector_lag_records",
            "high watermark minus the offset stored in SQLite",
            labels=["partition"],
        )
        total = 0
        for part, v in sorted(p.lag().items()):
            if v is not None:
                lag.add_metric([str(part)], v)
                total += v
        yield lag
        # not "lag_records_total": a gauge must not end in _total (promtool check metrics)
        yield GaugeMetricFamily(
            "callstream_projector_total_lag_records",
            "sum of the lag over partitions",
            value=total,
        )
        polled = p.poll_age_s()
        yield GaugeMetricFamily(
            "callstream_projector_last_poll_age_seconds",
            "seconds since the consumer last finished a poll (NaN before the first)",
            value=float("nan") if polled is None else polled,
        )
        age = p.newest_age_s()
        yield GaugeMetricFamily(
            "callstream_projector_newest_callback_age_seconds",
            "now minus received_at of the newest callback applied (NaN before the first)",
            value=float("nan") if age is None else age,
        )
        yield GaugeMetricFamily(
            "callstream_projector_caught_up",
            "1 when every partition is applied up to its high watermark",
            value=1.0 if p.caught_up() else 0.0,
        )
        for name, val, text in (
            ("records", p.records, "records consumed and applied"),
            ("events", p.events, "distinct new events stored"),
            ("rejected", p.rejected, "records kept in rejected_events"),
            ("batches", p.batches, "SQLite transactions committed"),
        ):
            yield CounterMetricFamily(f"callstream_projector_{name}", text, value=val)
