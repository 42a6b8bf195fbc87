"""In-memory fakes of the dialer's ports (:mod:`dialer.ports`): a Kafka log with the
kafka-python client methods the loop uses, and a Twilio Calls API. No broker, no network.

The log is one dict of partitions; a consumer group is whatever the one group consumer of
a test is (it is assigned every partition of the requests topic when it subscribes)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from callstream.dialrequest import DialRequest
from dialer.loop import Dialer
from dialer.retry import Failure
from dialer.twilio_api import Created, FoundCall


class TP(NamedTuple):
    topic: str
    partition: int


@dataclass(frozen=True)
class Rec:
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Meta:
    offset: int


class Done:
    def __init__(self, md: Meta) -> None:
        self.md = md

    def get(self, timeout: float | None = None) -> Meta:
        return self.md


@dataclass
class Log:
    """Topics of ``partitions`` partitions each; records appended under a lock."""

    partitions: int = 1
    data: dict[TP, list[Rec]] = field(default_factory=dict)
    committed: dict[TP, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, topic: str, value: bytes, key: bytes | None = None, partition: int = 0) -> int:
        with self.lock:
            recs = self.data.setdefault(TP(topic, partition), [])
            recs.append(Rec(len(recs), key, value))
            return len(recs) - 1

    def records(self, topic: str, partition: int = 0) -> list[Rec]:
        with self.lock:
            return list(self.data.get(TP(topic, partition), []))


class FakeProducer:
    def __init__(self, log: Log) -> None:
        self.log = log

    def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.log.partitions))

    def send(self, topic: str, value: bytes, key: bytes | None = None, partition: int = 0) -> Done:
        return Done(Meta(self.log.append(topic, value, key, partition)))

    def close(self, timeout: float | None = None) -> None:
        pass


class FakeConsumer:
    """``assign``/``subscribe``, ``seek``, ``poll``, ``pause``, ``commit``..."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.positions: dict[TP, int] = {}
        self.paused: set[TP] = set()
        self.listener: Any = None
        self.pending_assignment: list[TP] = []

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener
        self.pending_assignment = [TP(t, p) for t in topics for p in range(self.log.partitions)]

    def assign(self, tps: list[Any]) -> None:
        self.positions = {TP(tp.topic, tp.partition): 0 for tp in tps}

    def seek(self, tp: Any, offset: int) -> None:
        self.positions[TP(tp.topic, tp.partition)] = offset

    def seek_to_beginning(self, tp: Any) -> None:
        self.seek(tp, 0)

    def committed(self, tp: Any) -> int | None:
        return self.log.committed.get(TP(tp.topic, tp.partition))

    def commit(self, offsets: dict[Any, Any]) -> None:
        for tp, om in offsets.items():
            self.log.committed[TP(tp.topic, tp.partition)] = om.offset

    def poll(self, timeout_ms: int = 0, max_records: int = 100) -> dict[TP, list[Rec]]:
        if self.pending_assignment:  # the group's first join happens inside poll
            tps, self.pending_assignment = self.pending_assignment, []
            self.positions = dict.fromkeys(tps, 0)
            self.listener.on_partitions_assigned(tps)
        out: dict[TP, list[Rec]] = {}
        for tp, pos in list(self.positions.items()):
            if tp in self.paused:
                continue
            recs = self.log.records(tp.topic, tp.partition)[pos : pos + max_records]
            if recs:
                out[tp] = recs
                self.positions[tp] = pos + len(recs)
        if not out:
            time.sleep(min(timeout_ms, 10) / 1000)
        return out

    def highwater(self, tp: Any) -> int:
        return len(self.log.records(tp.topic, tp.partition))

    def position(self, tp: Any) -> int:
        return self.positions.get(TP(tp.topic, tp.partition), 0)

    def pause(self, tp: Any) -> None:
        self.paused.add(TP(tp.topic, tp.partition))

    def resume(self, tp: Any) -> None:
        self.paused.discard(TP(tp.topic, tp.partition))

    def close(self) -> None:
        pass


class FakeClients:
    """:class:`dialer.ports.KafkaClients` over one in-memory :class:`Log`."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def producer(self, client_id: str) -> FakeProducer:
        return FakeProducer(self.log)

    def group_consumer(self, client_id: str, group_id: str) -> FakeConsumer:
        return FakeConsumer(self.log)

    def reader_consumer(self, client_id: str) -> FakeConsumer:
        return FakeConsumer(self.log)


class FakeCalls:
    """:class:`dialer.twilio_api.CallsApi` in memory: ``plan[to]`` lists the failures the
    next creates to that number get (``None``: created); ``calls`` is what was created."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self.plan: dict[str, list[Failure | None]] = {}
        self.calls: list[FoundCall] = []
        self.creates: list[tuple[float, str]] = []  # (monotonic, To) of every create
        self.by_account: list[tuple[float, str, str]] = []  # (monotonic, AccountSid, id)
        self._sids = itertools.count(1)

    def create(self, req: DialRequest, status_callback: str) -> Created | Failure:
        now = time.monotonic()
        self.creates.append((now, req.to))
        self.by_account.append((now, req.account_sid, req.id))
        plan = self.plan.get(req.to)
        failure = plan.pop(0) if plan else None
        if failure is not None:
            return failure
        sid = f"CA{next(self._sids):032d}"
        self.calls.append(FoundCall(sid, req.to, req.from_, float(int(self.now()))))
        return Created(sid, "queued")

    def find(self, to: str, from_: str, account_sid: str | None = None) -> list[FoundCall]:
        return [c for c in reversed(self.calls) if c.to == to and c.from_ == from_]


@contextmanager
def running_dialer(d: Dialer) -> Iterator[Dialer]:
    """Run ``d`` in a thread until the block ends; it must stop cleanly, without error."""
    t = threading.Thread(target=d.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: d.status()[0], what="ready")
        yield d
    finally:
        d.stop()
        t.join(timeout=10)
        assert not t.is_alive()
    assert d.failed is None


def wait_for(pred: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")
