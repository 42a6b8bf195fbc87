"""Archive and restore rates against kafka-python's own ceilings, measured in the same run.

On an embedded broker, ``--records`` records of about 1 KB (a callback envelope's size,
keyed by CallSid, spread over the call-status topic's 6 partitions):

1. **Produce ceiling:** kafka-python sends them with restore's producer settings
   (idempotent, acks=all, linger 20 ms, 1 MiB batches) and flushes.
2. **Consume ceiling:** a kafka-python ``assign()`` consumer reads them back with the
   archiver's fetch settings, touching each value and nothing else.
3. **Archive:** ``callstream archive --once`` logic (:class:`callstream.archive.Archiver`)
   copies the same topics into a new archive file (SQLite, ``synchronous=FULL``).
4. **Restore:** :func:`callstream.restore.restore` produces that archive into a second,
   empty embedded broker, checking every record's offset.

Ratios: archive / consume ceiling, restore / produce ceiling (targets: at least 0.5), per
round (fresh brokers each round, so the four steps of a round share the machine's load
of that moment), and their medians over ``--rounds``.

    python benchmarks/archive.py --records 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from callstream import kafka, topics  # noqa: E402
from callstream.archive import Archiver  # noqa: E402
from callstream.archive_store import ArchiveStore  # noqa: E402
from callstream.broker import EmbeddedBroker  # noqa: E402
from callstream.restore import restore  # noqa: E402
from callstream.settings import Settings  # noqa: E402

PRODUCER = {"linger_ms": 20, "batch_size": 1024 * 1024, "max_request_size": 16 * 1024 * 1024}


def produce_ceiling(s: Settings, n: int) -> float:
    p = kafka.make_producer(s, "bench-produce", **PRODUCER)
    topic = s.topic(topics.CALL_STATUS)
    value = b'{"v":1,"params":' + b"x" * 1000 + b"}"
    t0 = time.perf_counter()
    for i in range(n):
        p.send(topic, key=f"CA{i:032x}".encode(), value=value, timestamp_ms=1_790_000_000_000 + i)
    p.flush(timeout=300)
    dt = time.perf_counter() - t0
    p.close()
    return n / dt


def consume_ceiling(s: Settings, n: int) -> float:
    from kafka import TopicPartition

    c = kafka.make_consumer(
        s,
        kafka.TANSU,
        client_id="bench-consume",
        max_poll_records=5000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    topic = s.topic(topics.CALL_STATUS)
    tps = [TopicPartition(topic, p) for p in range(6)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = 0
    t0 = time.perf_counter()
    while got < n:
        for recs in c.poll(timeout_ms=500).values():
            for r in recs:
                got += len(r.value) > 0
    dt = time.perf_counter() - t0
    c.close()
    return n / dt


def one_round(n: int, tmp: Path) -> dict[str, float]:
    """The four measurements on fresh brokers; records/s of each."""
    with EmbeddedBroker() as src, EmbeddedBroker() as dst:
        s = Settings.from_env(
            env={},
            kafka_bootstrap_servers=src.bootstrap,
            kafka_profile="tansu",
            archive=str(tmp / f"archive-{time.monotonic_ns()}.db"),
        )
        kafka.ensure_topics(s)
        produce = produce_ceiling(s, n)
        consume = consume_ceiling(s, n)

        store = ArchiveStore(s.archive)
        t0 = time.perf_counter()
        Archiver(s, store, kafka.TANSU).run(once=True)
        archive = n / (time.perf_counter() - t0)
        store.close()

        d = replace(s, kafka_bootstrap_servers=dst.bootstrap)
        store = ArchiveStore(s.archive, readonly=True)
        t0 = time.perf_counter()
        restore(d, store, out=io.StringIO())
        rest = n / (time.perf_counter() - t0)
        store.close()
    return {
        "produce_ceiling_per_s": round(produce),
        "restore_per_s": round(rest),
        "restore_ratio": round(rest / produce, 2),
        "consume_ceiling_per_s": round(consume),
        "archive_per_s": round(archive),
        "archive_ratio": round(archive / consume, 2),
        "archive_bytes_per_record": round(s.archive.stat().st_size / n),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="callstream-bench-archive-"))
    try:
        with EmbeddedBroker() as warm:  # the first producer of a process is slower
            w = Settings.from_env(env={}, kafka_bootstrap_servers=warm.bootstrap)
            kafka.ensure_topics(w)
            produce_ceiling(w, min(args.records, 20_000))
        rounds = []
        for i in range(args.rounds):
            r = one_round(args.records, tmp)
            rounds.append(r)
            print(json.dumps({"round": i + 1, "records": args.records, **r}), flush=True)
        print(
            json.dumps(
                {
                    "median_archive_ratio": statistics.median(r["archive_ratio"] for r in rounds),
                    "median_restore_ratio": statistics.median(r["restore_ratio"] for r in rounds),
                }
            )
        )
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
