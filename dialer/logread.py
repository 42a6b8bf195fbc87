"""Read topic partitions up to their end, with a consumer of its own (``assign()``, no group).

"The end" is decided by "poll until empty": the high watermark reported by a fetch is
reached *and* a further poll brings nothing. ``end_offsets()`` is not used: the embedded
broker under-reports it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

EMPTY_POLL_MS = 200  # longer than two fetch waits, so a fetch at the end came back empty


class PartitionReader:
    def __init__(self, consumer: KafkaConsumer) -> None:
        self.consumer = consumer
        self.positions: dict[TopicPartition, int] = {}

    def read(
        self, tps: Iterable[TopicPartition], from_start: bool, timeout_s: float = 60.0
    ) -> list[tuple[TopicPartition, int, Any]]:
        """Records of ``tps`` from the start (or from where the last read stopped) to the
        end, as (partition, offset, raw value); raises TimeoutError."""
        tps = sorted(set(tps), key=lambda tp: (tp.topic, tp.partition))
        if not tps:
            return []
        c = self.consumer
        c.assign(tps)
        for tp in tps:
            pos = 0 if from_start else self.positions.get(tp, 0)
            c.seek(tp, pos)
        out: list[tuple[TopicPartition, int, Any]] = []
        deadline = time.monotonic() + timeout_s
        while True:
            batch = c.poll(timeout_ms=EMPTY_POLL_MS, max_records=5000)
            for tp, recs in batch.items():
                out.extend((tp, r.offset, r.value) for r in recs)
            if not batch and all(self._at_end(tp) for tp in tps):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {tps} to their end in {timeout_s} s")
        for tp in tps:
            self.positions[tp] = c.position(tp)
        return out

    def _at_end(self, tp: TopicPartition) -> bool:
        hw = self.consumer.highwater(tp)
        return hw is not None and self.consumer.position(tp) >= hw

    def end_of(self, tp: TopicPartition) -> int:
        """The position where the last read of ``tp`` stopped (its end at that time)."""
        return self.positions.get(tp, 0)

    def close(self) -> None:
        self.consumer.close()
