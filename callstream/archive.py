"""The archiver: copy every record of callstream's topics into the archive file.

It reads every partition itself (``assign()``, no rebalances: the archive file has one
writer) from the positions stored in the file, and writes each poll's records together
with the new positions in one SQLite transaction. Its consumer group
(``callstream-archive``) only receives the same positions afterwards, so that ordinary lag
tools see the archiver; those commits are advisory and never read back.

On start it reads again the last archived record of every partition and compares it byte
for byte: a broker that lost its data, or a topic replaced by another, is refused with one
line instead of being appended after the old records.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from callstream import kafka_clients
from callstream.archive_format import ArchivedRecord
from callstream.archive_store import ArchiveStore, row_of
from callstream.kafka_clients import BrokerProfile
from callstream.settings import Settings

log = logging.getLogger("callstream.archive")

GROUP_ID = "callstream-archive"
MAX_POLL_RECORDS = 5000
COMMIT_EVERY_S = 1.0


class ArchiverError(RuntimeError):
    """The archiver cannot go on; the message says why and what to do."""


@dataclass
class ArchiveProgress:
    """What ``/readyz`` and ``/metrics`` report."""

    next_offset: dict[tuple[str, int], int] = field(default_factory=dict)
    high: dict[tuple[str, int], int] = field(default_factory=dict)
    records: int = 0
    batches: int = 0
    polled_at: float | None = None
    started: bool = False
    fatal: str | None = None

    def lag(self) -> dict[tuple[str, int], int]:
        return {tp: max(0, self.high.get(tp, nxt) - nxt) for tp, nxt in self.next_offset.items()}

    def caught_up(self) -> bool:
        return (
            self.started
            and all(tp in self.high for tp in self.next_offset)
            and not any(self.lag().values())
        )


def from_consumer_record(r: Any) -> ArchivedRecord:
    return ArchivedRecord(
        r.topic,
        r.partition,
        r.offset,
        int(r.timestamp),
        int(r.timestamp_type),
        r.key,
        r.value,
        tuple((k, v) for k, v in (r.headers or ())),
    )


def backwards_message(topic: str, partition: int, high: int, stored: int) -> str:
    return (
        f"the log went backwards: {topic} partition {partition} ends at offset {high} but "
        f"the archive already holds it up to offset {stored} (the broker lost its data or "
        "the topic was recreated); put the archive back first with 'callstream restore', "
        "or archive this log into a new file with --archive NEW"
    )


class Archiver:
    """Copy until stopped, or until caught up with ``once``."""

    def __init__(
        self,
        settings: Settings,
        store: ArchiveStore,
        profile: BrokerProfile,
        *,
        group_id: str | None = GROUP_ID,
        max_poll_records: int = MAX_POLL_RECORDS,
        fetch_max_wait_ms: int | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.profile = profile
        self.topics = [s.name for s in settings.topic_specs]
        self.group_id = group_id
        self.max_poll_records = max_poll_records
        self.fetch_max_wait_ms = fetch_max_wait_ms or profile.fetch_max_wait_ms
        self.progress = ArchiveProgress()
        self.stop_event = threading.Event()

    def stop(self) -> None:
        self.stop_event.set()

    def _consumer(self) -> Any:
        return kafka_clients.make_consumer(
            self.settings,
            self.profile,
            client_id="callstream-archive",
            group_id=self.group_id,
            auto_offset_reset="none",
            max_poll_records=self.max_poll_records,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )

    def _partitions(self, consumer: Any, wait_s: float) -> dict[str, int]:
        deadline = time.monotonic() + wait_s
        out: dict[str, int] = {}
        while True:
            for t in self.topics:
                parts = consumer.partitions_for_topic(t)
                if parts:
                    out[t] = len(parts)
            if len(out) == len(self.topics):
                return out
            if time.monotonic() > deadline or self.stop_event.is_set():
                missing = ", ".join(t for t in self.topics if t not in out)
                raise ArchiverError(
                    f"topic(s) {missing} do not exist: create them with 'callstream topics'"
                )
            time.sleep(0.2)

    def _seek(self, consumer: Any, tps: dict[tuple[str, int], Any]) -> set[tuple[str, int]]:
        """Seek each partition to its stored position; where records are archived, one
        record back, to compare it. Returns the partitions whose first record is that one."""
        stored = self.store.positions()
        first = consumer.beginning_offsets(list(tps.values()))
        verify: set[tuple[str, int]] = set()
        for key, tp in tps.items():
            nxt = stored.get(key, 0)
            self.progress.next_offset[key] = nxt
            if nxt > 0:
                if first[tp] > nxt - 1:
                    raise ArchiverError(
                        f"{key[0]} partition {key[1]} now starts at offset {first[tp]}, past "
                        f"the archive's position {nxt}: records were deleted before they "
                        "were archived, or the topic was replaced; archive it into a new "
                        "file with --archive NEW"
                    )
                consumer.seek(tp, nxt - 1)
                verify.add(key)
            else:
                consumer.seek(tp, first[tp])
                if first[tp]:
                    self.progress.next_offset[key] = first[tp]
        return verify

    def _verify(self, rec: ArchivedRecord) -> None:
        had = self.store.get(rec.topic, rec.partition, rec.offset)
        if had != rec:
            raise ArchiverError(
                f"{rec.topic} partition {rec.partition} holds a different record at offset "
                f"{rec.offset} than the archive: this is not the log the archive was copied "
                "from (the topic was replaced); archive it into a new file with --archive "
                "NEW, or restore the archive into an empty broker"
            )

    def run(self, once: bool = False, topic_wait_s: float = 30.0, drain_s: float = 5.0) -> None:
        """Copy until :meth:`stop`; with ``once``, until every partition is caught up.
        After :meth:`stop`, keep copying for up to ``drain_s`` until caught up, so that a
        clean stop leaves nothing behind in the broker."""
        from kafka import TopicPartition
        from kafka.errors import OffsetOutOfRangeError

        from callstream.archive_writer import Committer

        prog = self.progress
        consumer = self._consumer()
        committer = Committer(self.store, prog)
        try:
            counts = self._partitions(consumer, topic_wait_s)
            for t, n in counts.items():
                self.store.remember_topic(t, n)
            tps = {(t, p): TopicPartition(t, p) for t, n in counts.items() for p in range(n)}
            consumer.assign(list(tps.values()))
            verify = self._seek(consumer, tps)
            polled = dict(prog.next_offset)  # where the consumer is; prog: what is committed
            cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
            ids: dict[str, Any] = {}
            prog.started = True
            log.info("archiving", extra={"partitions": len(tps), "archive": str(self.store.path)})
            last_commit = time.monotonic()
            stop_by: float | None = None
            while True:
                if self.stop_event.is_set() and stop_by is None:
                    stop_by = time.monotonic() + drain_s
                if stop_by is not None and (prog.caught_up() or time.monotonic() > stop_by):
                    break
                try:
                    batch = consumer.poll(timeout_ms=200, max_records=self.max_poll_records)
                except OffsetOutOfRangeError as e:
                    raise ArchiverError(
                        f"the log went backwards: the broker no longer holds the archive's "
                        f"positions ({e}); put the archive back with 'callstream restore'"
                    ) from None
                prog.polled_at = time.time()
                _check_topic_ids(cluster, self.topics, ids)
                out: list[tuple[object, ...]] = []
                moved: dict[tuple[str, int], int] = {}
                for tp, fetched in batch.items():
                    key = (tp.topic, tp.partition)
                    recs = fetched
                    if recs and key in verify:
                        verify.discard(key)
                        if recs[0].offset == polled[key] - 1:
                            committer.wait()  # the store's connection is the committer's
                            self._verify(from_consumer_record(recs[0]))
                            recs = recs[1:]
                        # else the record before the position is gone (compaction): no check
                    out += map(row_of, recs)
                    if recs and recs[-1].offset + 1 > polled[key]:
                        moved[key] = polled[key] = recs[-1].offset + 1
                if out or moved:
                    committer.submit(out, moved)
                for key, tp in tps.items():
                    hw = consumer.highwater(tp)
                    if hw is None:
                        continue
                    if hw < polled[key]:
                        raise ArchiverError(backwards_message(key[0], key[1], hw, polled[key]))
                    prog.high[key] = hw
                if once and not verify and all(polled[k] >= prog.high.get(k, 2**63) for k in tps):
                    committer.wait()
                    break
                now = time.monotonic()
                if self.group_id and now - last_commit >= COMMIT_EVERY_S:
                    last_commit = now
                    _advisory_commit(consumer, tps, prog.next_offset)
            committer.wait()
            if self.group_id:
                _advisory_commit(consumer, tps, prog.next_offset)
        finally:
            committer.close()
            consumer.close(autocommit=False)


def _check_topic_ids(cluster: Any, names: list[str], ids: dict[str, Any]) -> None:
    """A topic whose id (KIP-516) changes under the archiver was deleted and created again,
    or the broker lost its data: the new log is not the one being copied."""
    get = getattr(cluster, "topic_id", None)
    if not callable(get):
        return
    for t in names:
        now = get(t)
        if now is None:
            continue
        was = ids.setdefault(t, now)
        if was != now:
            raise ArchiverError(
                f"the log went backwards: {t} was recreated (topic id {was} is now {now}); "
                "stop, restart the archiver: it checks the new log against the archive"
            )


def _advisory_commit(consumer: Any, tps: dict[tuple[str, int], Any], nxt: dict[Any, int]) -> None:
    from kafka.structs import OffsetAndMetadata

    try:
        consumer.commit({tps[k]: OffsetAndMetadata(o, "", -1) for k, o in nxt.items() if o})
    except Exception as e:  # advisory: the archive's own positions are what count
        log.warning("group commit failed", extra={"error": str(e)})
