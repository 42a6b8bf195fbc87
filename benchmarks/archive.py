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

Each pair is measured ``--rounds`` times, alternating (ceiling, then callstream's step), so
both see the machine's load of the moment; restore and its produce ceiling each get an
empty broker every time. Ratios: best archive / best consume ceiling and best restore /
best produce ceiling (targets: at least 0.5), and the same with medians.

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
from callstream import kafka_clients, topics  # noqa: E402
from callstream.archive import Archiver  # noqa: E402
from callstream.archive_store import ArchiveStore  # noqa: E402
from callstream.broker import EmbeddedBroker  # noqa: E402
from callstream.restore import restore  # noqa: E402
from callstream.settings import Settings  # noqa: E402

PRODUCER = {"linger_ms": 20, "batch_size": 1024 * 1024, "max_request_size": 16 * 1024 * 1024}


def produce_ceiling(s: Settings, n: int) -> float:
    p = kafka_clients.make_producer(s, "bench-produce", **PRODUCER)
    topic = s.topic(topics.CALL_STATUS)
    value = b'{"v":1,"params":' + b"x" * 1000 + b"}"
    t0 = time.perf_counter()
    for i in range(n):
        # an explicit partition, as restore sends them: the ceiling is not slowed by
        # kafka-python's pure-Python murmur2 partitioner, which restore never runs
        p.send(
            topic,
            key=f"CA{i:032x}".encode(),
            value=value,
            partition=i % 6,
            timestamp_ms=1_790_000_000_000 + i,
        )
    p.flush(timeout=300)
    dt = time.perf_counter() - t0
    p.close()
    return n / dt


def consume_ceiling(s: Settings, n: int) -> float:
    from kafka import TopicPartition

    c = kafka_clients.make_consumer(
        s,
        kafka_clients.TANSU,
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


def archive_rate(s: Settings, path: Path, n: int) -> float:
    store = ArchiveStore(path)
    try:
        t0 = time.perf_counter()
        Archiver(replace(s, archive=path), store, kafka_clients.TANSU).run(once=True)
        return n / (time.perf_counter() - t0)
    finally:
        store.close()


def restore_rate(s: Settings, path: Path, n: int) -> float:
    store = ArchiveStore(path, readonly=True)
    try:
        t0 = time.perf_counter()
        restore(s, store, out=io.StringIO())
        return n / (time.perf_counter() - t0)
    finally:
        store.close()


def settings_for(b: EmbeddedBroker) -> Settings:
    return Settings.from_env(env={}, kafka_bootstrap_servers=b.bootstrap, kafka_profile="tansu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = args.records
    tmp = Path(tempfile.mkdtemp(prefix="callstream-bench-archive-"))
    rates: dict[str, list[float]] = {k: [] for k in ("produce", "restore", "consume", "archive")}
    try:
        with EmbeddedBroker() as warm:  # the first producer of a process is slower
            w = settings_for(warm)
            kafka_clients.ensure_topics(w)
            produce_ceiling(w, min(n, 20_000))
        with EmbeddedBroker() as src:
            s = settings_for(src)
            kafka_clients.ensure_topics(s)
            produce_ceiling(s, n)
            for i in range(args.rounds):  # alternate, so both see the same load
                rates["consume"].append(consume_ceiling(s, n))
                rates["archive"].append(archive_rate(s, tmp / f"archive-{i}.db", n))
        for _ in range(args.rounds):
            with EmbeddedBroker() as dst:  # an empty broker each time, for both
                d = settings_for(dst)
                kafka_clients.ensure_topics(d)
                rates["produce"].append(produce_ceiling(d, n))
            with EmbeddedBroker() as dst:
                rates["restore"].append(restore_rate(settings_for(dst), tmp / "archive-0.db", n))
        size = (tmp / "archive-0.db").stat().st_size
    finally:
        shutil.rmtree(tmp)
    best = {k: max(v) for k, v in rates.items()}
    print(
        json.dumps(
            {
                "records": n,
                "rounds": {k: [round(x) for x in v] for k, v in rates.items()},
                "best_per_s": {k: round(v) for k, v in best.items()},
                "archive_ratio": round(best["archive"] / best["consume"], 2),
                "restore_ratio": round(best["restore"] / best["produce"], 2),
                "median_archive_ratio": round(
                    statistics.median(rates["archive"]) / statistics.median(rates["consume"]), 2
                ),
                "median_restore_ratio": round(
                    statistics.median(rates["restore"]) / statistics.median(rates["produce"]), 2
                ),
                "archive_bytes_per_record": round(size / n),
            }
        )
    )


if __name__ == "__main__":
    main()
