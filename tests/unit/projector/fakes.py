"""In-memory stand-ins for the projector's ports (projector/bootstrap.py): a records source
with the methods of kafka-python's consumer that the projector uses, a clock, an API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from projector.consumer import Clock
from projector.progress import Progress


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    value: bytes | str | None


@dataclass
class FakeConsumer:
    """A topic in memory: ``logs[p]`` is partition p's records from offset 0; each poll
    gives at most ``per_poll`` records of each partition."""

    topic: str
    logs: dict[int, list[bytes | str | None]]
    per_poll: int = 3
    on_poll: Callable[[FakeConsumer], None] | None = None
    assigned: list[Any] = field(default_factory=list)
    position: dict[int, int] = field(default_factory=dict)
    committed: dict[int, int] = field(default_factory=dict)
    polls: int = 0
    commits: int = 0
    closed: bool = False

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(self.logs) if topic == self.topic else None

    def assign(self, tps: list[Any]) -> None:
        self.assigned = list(tps)

    def beginning_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(tps, 0)

    def seek(self, tp: Any, offset: int) -> None:
        self.position[tp.partition] = offset

    def highwater(self, tp: Any) -> int:
        return len(self.logs[tp.partition])

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Message]]:
        self.polls += 1
        if self.on_poll is not None:
            self.on_poll(self)
        out: dict[Any, list[Message]] = {}
        for tp in self.assigned:
            start = self.position[tp.partition]
            values = self.logs[tp.partition][start : start + self.per_poll]
            if values:
                out[tp] = [Message(tp.partition, start + i, v) for i, v in enumerate(values)]
                self.position[tp.partition] = start + len(values)
        return out

    def commit(self, offsets: dict[Any, Any]) -> None:
        self.commits += 1
        self.committed.update({tp.partition: m.offset for tp, m in offsets.items()})

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


@dataclass
class FakeClock:
    """Time that moves only when asked to: by ``step`` on every reading."""

    now: float = 1_000.0
    step: float = 0.0
    slept: float = 0.0

    def monotonic(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, wall=self.monotonic, sleep=self.sleep)


@dataclass
class FakeApi:
    """The API process's place: records what the wiring asks of it."""

    db: Path
    host: str
    port: int
    progress: Progress
    on_exit: Callable[[str], None]
    started: bool = False
    stopped: bool = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True
