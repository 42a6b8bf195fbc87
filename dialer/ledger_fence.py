"""The ledger on Kafka: reading a partition's ledger into its fold, and fenced writes.

A ledger write is *fenced*: the broker returns the offset of the record, which must be
exactly the offset after the last ledger record this process knows of. Any other offset
means another writer (a second owner, e.g. a paused process that woke up) wrote to the
partition since: the write is reported as lost, the caller does not send, and reads the
ledger again. The fold itself is pure and lives in :mod:`dialer.ledger`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from dialer import ledger as lg
from dialer.kafka_ops import Retrier, Topics
from dialer.logread import PartitionReader
from dialer.metrics import DialerMetrics
from dialer.partitions import Part
from dialer.ports import Clock

log = logging.getLogger("callstream.dialer")

REBUILD_RETRY_S = 1.0
Records = list[tuple[TopicPartition, int, Any]]


@dataclass
class FencedLedger:
    """Reads and writes the ledgers of owned partitions. ``inherit`` receives the latest
    send per account that another writer recorded (the pacing carries on from it)."""

    producer: Any
    reader: PartitionReader
    topics: Topics
    owner: str
    retrier: Retrier
    metrics: DialerMetrics
    clock: Clock
    inherit: Callable[[dict[str, float]], None]

    def tps(self, n: int) -> list[TopicPartition]:
        return [TopicPartition(self.topics.ledger, n), TopicPartition(self.topics.outcomes, n)]

    def rebuild(self, parts: list[Part]) -> None:
        """Read the ledgers of ``parts`` from the start (in one pass) and fold them; on a
        failed read, try again in a second."""
        tps = [tp for part in parts for tp in self.tps(part.tp.partition)]
        try:
            recs = self.reader.read(tps, from_start=True)
        except Exception as e:
            for part in parts:
                part.retry_rebuild_at = self.clock.monotonic() + REBUILD_RETRY_S
            log.warning("ledger read failed", extra={"error": str(e)})
            return
        for part in parts:
            n = part.tp.partition
            mine = [r for r in recs if r[0].partition == n]
            state = lg.LedgerState()
            self.fold(state, mine)
            part.state = state
            part.ledger_end = self.reader.end_of(TopicPartition(self.topics.ledger, n))
            self.inherit(state.last_sent)
            part.rebuilt = True
            self.metrics.rebuilds.inc()
            log.info(
                "ledger read",
                extra={
                    "partition": n,
                    "records": len(mine),
                    "requests": len(state.entries),
                    "ledger_end": part.ledger_end,
                },
            )

    def refresh(self, part: Part) -> None:
        """Fold the ledger records written since the last read (by anyone)."""
        reader = self.reader
        n = part.tp.partition
        recs = self.retrier.run(lambda: reader.read(self.tps(n), from_start=False))
        others = lg.LedgerState()
        self.fold(part.state, recs)
        self.fold(others, [r for r in recs if _owner(r[2]) not in (None, self.owner)])
        self.inherit(others.last_sent)
        end = reader.end_of(TopicPartition(self.topics.ledger, n))
        part.ledger_end = max(part.ledger_end, end)

    def fold(self, state: lg.LedgerState, recs: Records) -> None:
        for tp, _off, raw in recs:
            obj = lg.decode(raw)
            if tp.topic == self.topics.ledger:
                state.apply_ledger(obj)
            else:
                state.apply_outcome(obj)

    def write(self, part: Part, rec: dict[str, Any]) -> bool:
        """Write one ledger record; False when another writer's records came first."""
        md = self.retrier.produce(
            self.producer,
            self.topics.ledger,
            lg.encode(rec),
            rec["account_sid"].encode(),
            part.tp.partition,
        )
        ok = bool(md.offset == part.ledger_end)
        if not ok:
            self.metrics.ledger_conflicts.inc()
            log.warning(
                "ledger conflict: another writer on this partition",
                extra={
                    "partition": part.tp.partition,
                    "expected": part.ledger_end,
                    "got": md.offset,
                    "type": rec["type"],
                    "id": rec["id"],
                },
            )
        part.ledger_end = md.offset + 1
        part.state.apply_ledger(rec)
        return ok


def _owner(raw: Any) -> str | None:
    obj = lg.decode(raw) if isinstance(raw, bytes) else None
    if isinstance(obj, dict) and isinstance(obj.get("owner"), str):
        return str(obj["owner"])
    return None
