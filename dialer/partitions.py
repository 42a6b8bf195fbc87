"""The partitions of ``dialer.requests`` this process owns: the records fetched but not
finished (in order), pausing a partition whose buffer is full, and rebalances.

kafka-python calls the rebalance listener inside ``poll()``; the listener only queues the
change, and :meth:`Partitions.apply_events` applies it right after the poll, on the loop's
thread. A (re)assigned partition is moved back to its committed offset: records fetched
but not finished before a revocation must be fetched again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition

from callstream.dialrequest import DialRequest, DialRequestError, from_record
from callstream.errors import StartupError
from dialer import ledger as lg

log = logging.getLogger("callstream.dialer")

MAX_BUFFER = 200  # fetched records per partition before it is paused


class TopicLayoutError(StartupError, RuntimeError):
    """The dialer's topics cannot line up with ``dialer.requests`` (too few partitions)."""


@dataclass
class Head:
    """The first unfinished record of a partition."""

    offset: int
    raw: Any
    key: bytes | None
    request: DialRequest | None
    problem: str | None = None  # why the record is malformed
    not_before: float = 0.0  # monotonic
    refresh: bool = False  # read the ledger's new records before deciding
    answered_at: float | None = None  # wall clock: when the last attempt's answer came


@dataclass
class Part:
    tp: TopicPartition
    state: lg.LedgerState = field(default_factory=lg.LedgerState)
    ledger_end: int = 0  # offset our next ledger write should get
    rebuilt: bool = False
    buffer: deque[Any] = field(default_factory=deque)
    head: Head | None = None
    paused: bool = False
    retry_rebuild_at: float = 0.0

    def first(self) -> Head | None:
        """The first unfinished record, parsed (a malformed one carries its problem)."""
        if self.head is None and self.buffer:
            rec = self.buffer.popleft()
            try:
                req = from_record(rec.value if rec.value is not None else b"")
                self.head = Head(rec.offset, rec.value, rec.key, req)
            except DialRequestError as e:
                self.head = Head(rec.offset, rec.value, rec.key, None, problem=str(e))
        return self.head


class Partitions:
    """The owned partitions of ``topic`` by number, fed by the group consumer."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.parts: dict[int, Part] = {}
        self.joined = threading.Event()
        self._events: list[tuple[str, set[int]]] = []
        self._events_lock = threading.Lock()

    def listener(self) -> ConsumerRebalanceListener:
        return _Listener(self)

    def on_event(self, kind: str, tps: Any) -> None:
        """Called inside ``poll()``: queue the change for :meth:`apply_events`."""
        nums = {tp.partition for tp in tps if tp.topic == self.topic}
        with self._events_lock:
            self._events.append((kind, nums))

    def apply_events(self, consumer: Any, retry: Callable[[Callable[[], Any]], Any]) -> set[int]:
        """Apply the rebalances seen during the last poll; return the partitions that were
        (re)assigned, each moved back to its committed offset (``retry`` runs a Kafka
        operation until it succeeds)."""
        with self._events_lock:
            events, self._events = self._events, []
        fresh: set[int] = set()
        for kind, nums in events:
            if kind == "revoked":
                for n in nums:
                    self.parts.pop(n, None)
                    fresh.discard(n)
            else:
                for n in nums:
                    self.parts[n] = Part(TopicPartition(self.topic, n))
                    fresh.add(n)
                self.joined.set()
                log.info("partitions assigned", extra={"partitions": sorted(self.parts)})
        for n in sorted(fresh):
            tp = self.parts[n].tp
            committed: int | None = retry(partial(consumer.committed, tp))
            if committed is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        return fresh

    def add(self, batch: dict[Any, list[Any]], fresh: set[int]) -> None:
        """Buffer a poll's records; those of just (re)assigned partitions are dropped
        (fetched before the seek back, they come again)."""
        for tp, recs in batch.items():
            part = self.parts.get(tp.partition)
            if part is None or tp.topic != self.topic or tp.partition in fresh:
                continue
            part.buffer.extend(recs)

    def flow_control(self, consumer: Any) -> None:
        """Pause a partition whose buffer is full; resume it once half of it is done."""
        for part in self.parts.values():
            n = len(part.buffer)
            if n >= MAX_BUFFER and not part.paused:
                consumer.pause(part.tp)
                part.paused = True
            elif n < MAX_BUFFER // 2 and part.paused:
                consumer.resume(part.tp)
                part.paused = False

    def backlog(self, consumer: Any) -> int:
        """Requests on owned partitions not finished yet, fetched or not."""
        total = 0
        for part in self.parts.values():
            total += len(part.buffer) + (1 if part.head else 0)
            hw = consumer.highwater(part.tp)
            if hw is not None:
                with contextlib.suppress(Exception):
                    total += max(0, hw - consumer.position(part.tp))
        return total


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, partitions: Partitions) -> None:
        self.partitions = partitions

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.partitions.on_event("revoked", revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.partitions.on_event("assigned", assigned)


def check_partition_counts(producer: Any, names: tuple[str, ...]) -> None:
    """The ledger, outcomes and dead-letter topics (``names[1:]``) have at least as many
    partitions as the requests topic (``names[0]``): partition *p* of each is the ledger
    of request partition *p*."""
    counts = {}
    for t in names:
        parts = producer.partitions_for(t)
        counts[t] = len(parts) if parts else 0
    need = counts[names[0]]
    short = [f"{t} has {n}" for t, n in counts.items() if n < need]
    if short:
        raise TopicLayoutError(
            f"{names[0]} has {need} partitions but "
            + ", ".join(short)
            + "; the ledger, outcomes and dead-letter topics need at least as many"
        )
