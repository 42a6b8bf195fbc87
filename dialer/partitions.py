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

MAX_BUFFER = 2000  # requests held per partition (all accounts) before it is paused
LANE_MAX = 200  # requests held per account and partition; later ones are fetched again
SKIP_PAUSE = 5000  # records of full lanes passed over before the partition is paused


class TopicLayoutError(StartupError, RuntimeError):
    """The dialer's topics cannot line up with ``dialer.requests`` (too few partitions)."""


@dataclass
class Head:
    """A fetched, unfinished record: the first of its account's lane is handled next."""

    offset: int
    raw: Any
    key: bytes | None
    request: DialRequest | None
    problem: str | None = None  # why the record is malformed
    not_before: float = 0.0  # monotonic
    refresh: bool = False  # read the ledger's new records before deciding
    answered_at: float | None = None  # wall clock: when the last attempt's answer came
    account_lookup: threading.Event | None = None  # set once an unknown account was looked up

    @property
    def lane(self) -> str:
        """Requests of one account are handled in order; accounts do not wait on each
        other. Malformed records have a lane of their own."""
        return self.request.account_sid if self.request is not None else ""


@dataclass
class Part:
    """One owned partition: its ledger fold, and its fetched unfinished requests in one
    lane per account, so that one account's backlog, retries or 429s never hold back
    another account's requests in the same partition.

    The committed offset is the lowest unfinished one: after a rebalance or a restart the
    records from there are fetched again, and those already finished are skipped by
    their ledger entry. A lane holds at most ``LANE_MAX`` requests; a record arriving for
    a full lane is passed over and the partition is moved back to it (``overflow``) once
    that lane has room again.
    """

    tp: TopicPartition
    state: lg.LedgerState = field(default_factory=lg.LedgerState)
    ledger_end: int = 0  # offset our next ledger write should get
    rebuilt: bool = False
    lanes: dict[str, deque[Head]] = field(default_factory=dict)
    unfinished: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)  # above the commit point
    next_offset: int | None = None  # after the last record taken in
    overflow: dict[str, int] = field(default_factory=dict)  # lane -> first passed over
    refilling: set[str] = field(default_factory=set)  # lanes moved back to ``overflow``
    skipped: int = 0  # records passed over since the last move back
    paused: bool = False
    retry_rebuild_at: float = 0.0

    def take(self, rec: Any) -> None:
        """Take a fetched record in (one taken before is ignored)."""
        off = rec.offset
        if off in self.unfinished or off in self.finished:
            return
        try:
            req = from_record(rec.value if rec.value is not None else b"")
            head = Head(off, rec.value, rec.key, req)
        except DialRequestError as e:
            head = Head(off, rec.value, rec.key, None, problem=str(e))
        self.next_offset = max(self.next_offset or 0, off + 1)
        lane = self.lanes.setdefault(head.lane, deque())
        first_skipped = self.overflow.get(head.lane)
        if first_skipped is not None and not (head.lane in self.refilling and off == first_skipped):
            self.skipped += 1  # keeps its lane's order: taken after the ones passed over
            return
        if len(lane) >= LANE_MAX:
            self.overflow[head.lane] = off
            self.skipped += 1
            return
        if first_skipped is not None:  # fetched again: the lane is back in order
            del self.overflow[head.lane]
            self.refilling.discard(head.lane)
        lane.append(head)
        self.unfinished.add(off)

    def heads(self) -> list[Head]:
        """The first unfinished request of each account."""
        return [lane[0] for lane in self.lanes.values() if lane]

    def size(self) -> int:
        return len(self.unfinished)

    def done(self, head: Head) -> int | None:
        """``head`` is finished; the new commit offset when it moved, else None."""
        lane = self.lanes.get(head.lane)
        if lane and lane[0] is head:
            lane.popleft()
            if not lane:
                del self.lanes[head.lane]
        before = self.commit_point()
        self.unfinished.discard(head.offset)
        self.finished.add(head.offset)
        after = self.commit_point()
        if after is not None:
            self.finished = {o for o in self.finished if o >= after}
        return after if after != before else None

    def commit_point(self) -> int | None:
        """The lowest offset not finished: unfinished, or passed over (full lane)."""
        low = [*self.overflow.values(), *([min(self.unfinished)] if self.unfinished else [])]
        return min(low) if low else self.next_offset

    def refill(self) -> int | None:
        """The offset to move back to when a lane that overflowed has room again (its
        passed-over records stay below the commit point until they are taken in)."""
        ready = [
            off
            for lane, off in self.overflow.items()
            if lane not in self.refilling and len(self.lanes.get(lane, ())) <= LANE_MAX // 2
        ]
        if not ready:
            return None
        self.refilling.update(lane for lane, off in self.overflow.items() if off in ready)
        self.skipped = 0
        return min(ready)


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
        """Take a poll's records in; those of just (re)assigned partitions are dropped
        (fetched before the seek back, they come again)."""
        for tp, recs in batch.items():
            part = self.parts.get(tp.partition)
            if part is None or tp.topic != self.topic or tp.partition in fresh:
                continue
            for rec in recs:
                part.take(rec)

    def flow_control(self, consumer: Any) -> None:
        """Move a partition back to the records it passed over once their lane has room;
        pause one that holds too much (or passed over too much), resume it once half of
        that is done."""
        for part in self.parts.values():
            back = part.refill()
            if back is not None:
                consumer.seek(part.tp, back)
            full = part.size() >= MAX_BUFFER or part.skipped >= SKIP_PAUSE
            if full and not part.paused:
                consumer.pause(part.tp)
                part.paused = True
            elif not full and part.paused and part.size() < MAX_BUFFER // 2:
                consumer.resume(part.tp)
                part.paused = False

    def backlog(self, consumer: Any) -> int:
        """Requests on owned partitions not finished yet, fetched or not."""
        total = 0
        for part in self.parts.values():
            total += part.size() + part.skipped
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
