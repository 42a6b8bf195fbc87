"""The Kafka side: read ``twilio.call-status`` and apply each poll's batch to the store.

The projector is the only writer of its database, so it reads every partition of the topic
itself (``assign()``, no group rebalances) and starts each partition at the offset stored in
SQLite. Its consumer group is used only to commit the same offsets afterwards, so that
ordinary lag tools see the projector; those commits are advisory and never read back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callstream import kafka_clients, topics
from callstream.kafka_clients import BrokerProfile
from callstream.settings import Settings
from projector.progress import Progress
from projector.store import Store

log = logging.getLogger("callstream.projector")

GROUP_ID = "callstream-projector"
MAX_POLL_RECORDS = 2000
COMMIT_EVERY_S = 1.0
# how often to look for partitions added to the topic while running; the consumer's
# metadata is refreshed as often (metadata_max_age_ms), so a new partition is seen within
# about twice this
LOOK_FOR_PARTITIONS_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class Clock:
    """The projector's clock: intervals (group commits, looking for partitions, waiting for
    the topic) and the wall time of the last poll. A test passes a fake one."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


SYSTEM_CLOCK = Clock()


class LogWentBackwards(RuntimeError):
    """The topic holds fewer records than the database has already applied."""


class ProjectorError(RuntimeError):
    """The projector cannot go on; the message says why and what to do."""


def backwards_message(topic: str, partition: int, high: int, stored: int) -> str:
    return (
        f"the log went backwards: {topic} partition {partition} ends at offset {high}, but the "
        f"database has already applied records up to offset {stored} (the broker lost its "
        "data or the topic was recreated); refusing to skip or double-count. Rebuild from the "
        "log as it is now with 'callstream rebuild --db NEW' and point the projector at NEW"
    )


class Projector:
    """Consume and apply until stopped, or until caught up when ``stop_at_end``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        profile: BrokerProfile,
        *,
        group_id: str | None = GROUP_ID,
        client_id: str = "callstream-projector",
        max_poll_records: int = MAX_POLL_RECORDS,
        consumer: Callable[[], Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``consumer`` makes the Kafka consumer (a kafka-python ``KafkaConsumer`` from the
        settings when None; a test passes an in-memory one with the same methods)."""
        self.settings = settings
        self.store = store
        self.topic = settings.topic(topics.CALL_STATUS)
        self.profile = profile
        self.group_id = group_id
        self.client_id = client_id
        self.max_poll_records = max_poll_records
        self.make_consumer = consumer or self._consumer
        self.clock = clock
        self.progress = Progress()
        self.stop_event = threading.Event()

    def stop(self) -> None:
        self.stop_event.set()

    def _check_topic_id(self, seen: Any, consumer: Any, tps: dict[int, Any]) -> Any:
        """Compare the topic's id with the one the database's offsets belong to; record it
        the first time. Under a different id, accept the log only if it holds the records
        last applied at the same offsets (restored), else refuse (replaced). Leaves the
        partitions' positions to the caller."""
        from projector.samelog import differs

        stored = self.store.topic_id()
        if stored is None:
            self.store.remember_topic_id(str(seen))
        elif stored != str(seen):
            why = differs(consumer, tps, self.store.fingerprints(), self.store.offsets())
            detail = {"topic": self.topic, "topic_id_was": stored, "topic_id_now": str(seen)}
            if why is not None:
                log.error("log replaced; refusing it", extra={**detail, "why": why})
                raise LogWentBackwards(recreated_message(self.topic, stored, seen) + f" ({why})")
            log.info(
                "log restored; accepting it",
                extra={
                    **detail,
                    "why": "the last applied record of every partition is at the same offset "
                    "with the same fingerprint",
                },
            )
            self.store.remember_topic_id(str(seen))
        return seen

    def _consumer(self) -> Any:
        return kafka_clients.make_consumer(
            self.settings,
            self.profile,
            client_id=self.client_id,
            group_id=self.group_id,
            auto_offset_reset="none",
            max_poll_records=self.max_poll_records,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            metadata_max_age_ms=int(LOOK_FOR_PARTITIONS_EVERY_S * 1000),
        )

    def _partitions(self, consumer: Any, wait_s: float) -> list[int]:
        deadline = self.clock.monotonic() + wait_s
        while True:
            parts = consumer.partitions_for_topic(self.topic)
            if parts:
                return sorted(parts)
            if self.clock.monotonic() > deadline or self.stop_event.is_set():
                raise ProjectorError(
                    f"topic {self.topic} does not exist: create it with 'callstream topics'"
                )
            self.clock.sleep(0.2)

    def _seek(self, consumer: Any, tps: dict[int, Any]) -> dict[int, int]:
        """Seek each partition to the offset stored in SQLite, or to its first offset when
        none is stored; return the stored offsets (0 when none)."""
        stored = self.store.offsets()
        first = consumer.beginning_offsets(list(tps.values()))
        for p, tp in tps.items():
            start = stored.get(p)
            if start is None:
                consumer.seek(tp, first[tp])
            elif start < first[tp]:
                raise ProjectorError(
                    f"{self.topic} partition {p} now starts at offset {first[tp]}, past the "
                    f"stored offset {start}: records were deleted before they were applied. "
                    "Rebuild with 'callstream rebuild --db NEW'"
                )
            else:
                consumer.seek(tp, start)
        return {p: stored.get(p, 0) for p in tps}

    def _take_new_partitions(self, consumer: Any, tps: dict[int, Any]) -> None:
        """Partitions added to the topic while running (``kafka-topics --alter``): consume
        them too, from their first offset, instead of reporting "caught up" without them."""
        from kafka import TopicPartition

        known = consumer.partitions_for_topic(self.topic) or set()
        new = {p: TopicPartition(self.topic, p) for p in sorted(known) if p not in tps}
        if not new:
            return
        consumer.assign([*tps.values(), *new.values()])  # keeps the others' positions
        self.progress.stored.update(self._seek(consumer, new))
        tps.update(new)
        self.progress.partitions = sorted(tps)
        log.info("partitions added", extra={"topic": self.topic, "partitions": sorted(new)})

    def run(
        self, until_caught_up: bool = False, topic_wait_s: float = 30.0, on_batch: Any = None
    ) -> Progress:
        """Consume until :meth:`stop` (or until caught up). Raises LogWentBackwards."""
        from kafka import TopicPartition
        from kafka.errors import NoOffsetForPartitionError, OffsetOutOfRangeError
        from kafka.structs import OffsetAndMetadata

        prog = self.progress
        others = self.store.other_topics()
        if others:
            raise ProjectorError(
                f"{self.store.path} was built from topic {others[0]}, not {self.topic}; point "
                "--db/CALLSTREAM_DB at a database of this topic or rebuild one"
            )
        consumer = self.make_consumer()
        try:
            parts = self._partitions(consumer, topic_wait_s)
            tps = {p: TopicPartition(self.topic, p) for p in parts}
            consumer.assign(list(tps.values()))
            # the topic's id (KIP-516): a broker that lost its data, or a topic deleted and
            # created again, gives a new id even when the new log has grown past our offsets
            cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
            topic_id = _topic_id(cluster, self.topic)
            if topic_id is not None:
                topic_id = self._check_topic_id(topic_id, consumer, tps)
            prog.stored = self._seek(consumer, tps)
            prog.partitions = parts
            log.info(
                "consuming",
                extra={"topic": self.topic, "partitions": len(parts), "from": prog.stored},
            )
            last_commit = last_look = self.clock.monotonic()
            committed: dict[int, int] = {}
            while not self.stop_event.is_set():
                try:
                    batch = consumer.poll(timeout_ms=200, max_records=self.max_poll_records)
                except (OffsetOutOfRangeError, NoOffsetForPartitionError) as e:
                    # Apache Kafka answers a fetch past the end with OFFSET_OUT_OF_RANGE
                    raise LogWentBackwards(
                        f"the log went backwards: {self.topic} no longer holds the stored "
                        f"offsets ({e}); refusing to skip or double-count. Rebuild with "
                        "'callstream rebuild --db NEW' and point the projector at NEW"
                    ) from None
                prog.polled_at = self.clock.wall()
                now_id = _topic_id(cluster, self.topic)
                if topic_id is None and now_id is not None:
                    topic_id = self._check_topic_id(now_id, consumer, tps)
                    for p, tp in tps.items():
                        consumer.seek(tp, prog.stored[p])
                    continue
                elif now_id is not None and now_id != topic_id:
                    raise LogWentBackwards(recreated_message(self.topic, topic_id, now_id))
                for p, tp in tps.items():
                    hw = consumer.highwater(tp)
                    if hw is not None:
                        if hw < prog.stored[p]:
                            raise LogWentBackwards(
                                backwards_message(self.topic, p, hw, prog.stored[p])
                            )
                        prog.high[p] = hw
                records = [
                    (r.partition, r.offset, r.value) for recs in batch.values() for r in recs
                ]
                if records:
                    res = self.store.apply(records)
                    for tp_, recs in batch.items():
                        nxt = recs[-1].offset + 1
                        if nxt > prog.stored.get(tp_.partition, 0):
                            prog.stored[tp_.partition] = nxt
                        if prog.high.get(tp_.partition, 0) < nxt:
                            prog.high[tp_.partition] = nxt
                    prog.records += res.records
                    prog.events += res.events
                    prog.rejected += res.rejected
                    prog.batches += 1
                    if res.newest_received_at and (
                        prog.newest_received_at is None
                        or res.newest_received_at > prog.newest_received_at
                    ):
                        prog.newest_received_at = res.newest_received_at
                    if on_batch is not None:
                        on_batch(prog)
                now = self.clock.monotonic()
                if now - last_look >= LOOK_FOR_PARTITIONS_EVERY_S:
                    last_look = now
                    self._take_new_partitions(consumer, tps)
                if self.group_id and now - last_commit >= COMMIT_EVERY_S:
                    todo = {
                        tps[p]: OffsetAndMetadata(o, "", -1)
                        for p, o in prog.stored.items()
                        if committed.get(p) != o
                    }
                    if todo:
                        try:
                            consumer.commit(todo)  # ~1 round trip a second
                            committed.update({tp.partition: m.offset for tp, m in todo.items()})
                        except Exception as e:  # advisory: never stop the projector for it
                            log.warning("group commit failed", extra={"error": str(e)})
                    last_commit = now
                if until_caught_up and prog.caught_up():
                    break
            if self.group_id:
                final = {
                    tps[p]: OffsetAndMetadata(o, "", -1)
                    for p, o in prog.stored.items()
                    if committed.get(p) != o
                }
                if final:
                    try:
                        consumer.commit(final)
                    except Exception as e:  # advisory
                        log.warning("group commit failed", extra={"error": str(e)})
            return prog
        finally:
            consumer.close(autocommit=False)


def recreated_message(topic: str, was: Any, now: Any) -> str:
    return (
        f"the log went backwards: {topic} was recreated (topic id {was} is now {now}: the "
        "broker lost its data or the topic was deleted and created again); refusing to skip "
        "or double-count. Rebuild with 'callstream rebuild --db NEW' and point the projector "
        "at NEW"
    )


def _topic_id(cluster: Any, topic: str) -> Any:
    """The topic's id from the client's metadata, or None (unknown, or an old client)."""
    get = getattr(cluster, "topic_id", None)
    return get(topic) if callable(get) else None
