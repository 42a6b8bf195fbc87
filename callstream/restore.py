"""Produce an archive back into empty topics, every record at its partition and offset.

Everything is checked before the first record is sent, so a refusal writes nothing:

* each archived partition holds offsets 0..n-1 with no gap (:func:`check_contiguous`);
* kafka-python can produce every record (a key or a value; no null header value);
* each target topic has the archived partition count and no record
  (:func:`check_target`); a missing topic is created with the archived count.

Records are then sent in offset order per partition through one idempotent producer (the
broker keeps their order, and the client's retries add no duplicate), with the key,
headers and timestamp they had. The offset the broker assigned to each record is compared
with the archived one; any difference fails the restore loudly.
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass
from typing import Any, TextIO

from callstream import kafka_clients
from callstream.archive_format import NotRestorable, check_target, decode_headers
from callstream.archive_store import ArchiveStore
from callstream.settings import Settings


class RestoreError(RuntimeError):
    """The restore failed part way; the message says what state the topics are in."""


@dataclass
class Plan:
    topics: dict[str, int]  # topic -> partitions
    records: dict[tuple[str, int], int]  # (topic, partition) -> records, offsets 0..n-1

    @property
    def total(self) -> int:
        return sum(self.records.values())


def plan(store: ArchiveStore, only: list[str] | None = None) -> Plan:
    """What the archive holds, checked for gaps and for records Kafka clients cannot send."""
    topics = {t: n for t, n in store.topics().items() if only is None or t in only}
    sql = (
        'SELECT topic, partition, COUNT(*), MIN("offset"), MAX("offset") FROM records '
        "GROUP BY topic, partition"
    )
    records: dict[tuple[str, int], int] = {}
    for t, p, n, lo, hi in store.conn.execute(sql):
        if t not in topics:
            continue
        if lo != 0 or hi != n - 1:
            # offsets are unique (the primary key), so this finds the first gap in SQL only
            # when it is needed; check_contiguous words the refusal
            from callstream.archive_format import check_contiguous

            check_contiguous(t, p, store.offsets(t, p))
        if p >= topics[t]:
            raise NotRestorable(f"{t} partition {p} is archived but the topic has {topics[t]}")
        records[(t, p)] = int(n)
    null = store.conn.execute(
        'SELECT topic, partition, "offset" FROM records WHERE key IS NULL AND value IS NULL LIMIT 1'
    ).fetchone()
    if null is not None and null[0] in topics:
        raise NotRestorable(
            f"{null[0]} partition {null[1]} offset {null[2]} has neither key nor value, which "
            "the Kafka client cannot produce; nothing was written"
        )
    rows = store.conn.execute(
        'SELECT topic, partition, "offset", headers FROM records WHERE headers IS NOT NULL'
    )
    for t, p, o, h in rows:
        if t in topics and any(v is None for _, v in decode_headers(h)):
            raise NotRestorable(
                f"{t} partition {p} offset {o} has a header with a null value, which the "
                "Kafka client cannot produce; nothing was written"
            )
    return Plan(topics, records)


def _prepare_targets(settings: Settings, p: Plan, create: bool = True) -> None:
    """Create missing topics with the archived partition counts; refuse non-empty ones or
    other counts."""
    from kafka import TopicPartition
    from kafka.admin import NewTopic

    configs = {s.name: dict(s.configs) for s in settings.topic_specs}
    admin = kafka_clients.make_admin(settings)
    try:
        existing = set(admin.list_topics())
        counts: dict[str, int] = {}
        described = admin.describe_topics([t for t in p.topics if t in existing])
        for d in described:
            counts[d["name"]] = len(d["partitions"])
        for t, n in p.topics.items():
            check_target(t, n, counts.get(t), {})
        missing = [t for t in p.topics if t not in existing]
        if missing and create:
            admin.create_topics(
                [NewTopic(t, p.topics[t], 1, topic_configs=configs.get(t, {})) for t in missing]
            )
            kafka_clients._wait_for_metadata(admin, missing, 10.0)
    finally:
        admin.close()
    consumer = kafka_clients.make_consumer(
        settings, kafka_clients.TANSU, client_id="callstream-restore"
    )
    try:
        tps = [TopicPartition(t, i) for t, n in p.topics.items() for i in range(n)]
        ends = consumer.end_offsets(tps)
        for t, n in p.topics.items():
            check_target(t, n, None, {tp.partition: o for tp, o in ends.items() if tp.topic == t})
    finally:
        consumer.close()


def _check(fut: Any, offset: int, topic: str, partition: int) -> None:
    got = fut.get(timeout=0).offset  # raises what the send failed with
    if got != offset:
        raise RestoreError(
            f"{topic} partition {partition}: a record archived at offset {offset} landed at "
            f"{got} (another producer wrote to the topic during the restore?); the topics "
            "now differ from the archive: delete them and restore again"
        )


def restore(
    settings: Settings,
    store: ArchiveStore,
    *,
    out: TextIO | None = None,
    only: list[str] | None = None,
    producer_options: dict[str, Any] | None = None,
) -> Plan:
    """Check, then produce every archived record; return what was restored."""
    from callstream.progressbar import ProgressBar

    out = sys.stderr if out is None else out
    p = plan(store, only)
    _prepare_targets(settings, p)
    if not p.total:
        return p
    opts = {
        "linger_ms": 20,
        "batch_size": 1024 * 1024,
        "max_request_size": 16 * 1024 * 1024,
        "delivery_timeout_ms": 120000,
        **(producer_options or {}),
    }
    producer = kafka_clients.make_producer(settings, "callstream-restore", **opts)
    bar = ProgressBar(out)
    # the futures of records sent but not yet checked: checked as they complete, so memory
    # stays bounded by what is in flight, however large the archive
    sent: deque[tuple[Any, int, str, int]] = deque()
    done = 0
    try:
        for topic in p.topics:
            for part, offset, ts, _, key, value, blob in store.rows(topic):
                fut = producer.send(
                    topic,
                    value=value,
                    key=key,
                    headers=list(decode_headers(blob)) if blob else None,
                    partition=part,
                    timestamp_ms=ts,
                )
                sent.append((fut, offset, topic, part))
                done += 1
                while sent and sent[0][0].is_done:
                    _check(*sent.popleft())
                if done % 2000 == 0:
                    bar.update(done, p.total)
        producer.flush(timeout=120)
        while sent:
            _check(*sent.popleft())
        bar.update(done, p.total, final=True)
    except RestoreError:
        raise
    except Exception as e:
        raise RestoreError(
            f"restore failed after sending {done} of {p.total} records: {e}; the topics "
            "now hold part of the archive: delete them (or restart the embedded broker) "
            "and restore again"
        ) from None
    finally:
        producer.close(timeout=5)
    return p
