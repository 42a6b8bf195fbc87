"""The Prometheus registry every service starts from.

Each app keeps a registry of its own (several apps in one process, as in tests, must not
collide), so prometheus-client's default collectors are not there unless added: this adds
the ``process_*`` (CPU, memory, open files, start time), ``python_info`` and ``python_gc_*``
metrics that dashboards and the ``up``-style alerts expect from every service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)


def service_registry(
    process_pid: Callable[[], int | str] | None = None, gc: bool = True
) -> CollectorRegistry:
    """A registry with the process metrics of this process, or of ``process_pid()``.

    ``process_pid`` serves a process that reports for another one (the projector's API
    child reports its consumer's process, which is the one an operator started).
    """
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(pid=process_pid or (lambda: "self"), registry=registry)
    PlatformCollector(registry=registry)
    if gc:
        GCCollector(registry=registry)
    return registry


def labelled_counter(
    name: str, doc: str, label: str, values: Iterable[str], registry: CollectorRegistry
) -> tuple[Counter, dict[str, Counter]]:
    """A counter with one label whose known values exist at 0 from the start.

    A series that first appears at 1 has no earlier sample, so ``increase()`` over it is 0
    and an alert on "any increase" never fires for the first event after each start.
    """
    counter = Counter(name, doc, [label], registry=registry)
    return counter, {v: counter.labels(v) for v in values}
