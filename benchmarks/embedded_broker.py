"""The embedded broker's CPU as its in-memory log grows: producing alone, then with a reader.

Starts the embedded broker (Tansu, memory storage) and produces 1 KB records at a fixed
rate (default 200/s, ``linger_ms`` as ingest uses it) to the call-status topic.

- **Baseline:** one window with no consumer (``--window`` seconds).
- **Reader:** then a consumer with the projector's settings reads at the tail of the log,
  and the broker's CPU is sampled over ``--windows`` more windows as the log grows.
- **Idle:** the producer stops and the consumer keeps polling an idle log for one window.

CPU is the broker process's own user + system time per wall second, from ``/proc`` (Linux).
The figures show how a fetch's cost depends on the length of the log the broker holds.

    python benchmarks/embedded_broker.py --rate 200 --window 30 --windows 4

**By log length** (``--sizes``): instead, the log is filled to each length in turn
(records of the same size, produced as fast as the broker takes them), and at each, for
``--window`` seconds, records are produced at ``--rate`` and read at the tail by a consumer
with the projector's settings. Reported per length: the broker's CPU and RSS, and each
record's time from its send to being returned by ``poll`` (the send time travels in the
record), which is the broker's share of the end-to-end latency:

    python benchmarks/embedded_broker.py --sizes 0,120000,376000 --window 20

Progress on stderr, a table on stdout (``--sizes``), ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from callstream import kafka_clients, topics
from callstream.broker import EmbeddedBroker
from callstream.settings import Settings

RECORD_BYTES = 1000


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Producer(threading.Thread):
    def __init__(self, settings: Settings, rate: float) -> None:
        super().__init__(daemon=True)
        self.producer = kafka_clients.make_producer(settings, "bench-broker", linger_ms=1)
        self.topic = settings.topic(topics.CALL_STATUS)
        self.rate = rate
        self.sent = 0
        self.halt = threading.Event()

    def run(self) -> None:
        pad = b"x" * (RECORD_BYTES - 8)
        start = time.perf_counter()
        while not self.halt.is_set():
            due = start + self.sent / self.rate
            while time.perf_counter() < due:
                time.sleep(0.001)
            # the send time, so that the reader can time each record's way through the broker
            value = struct.pack("<d", time.monotonic()) + pad
            self.producer.send(self.topic, key=f"CA{self.sent:032x}".encode(), value=value)
            self.sent += 1

    def stop(self) -> None:
        self.halt.set()
        self.join()
        self.producer.flush()
        self.producer.close()


class Reader(threading.Thread):
    """A consumer at the tail of every partition, polling as the projector does."""

    def __init__(self, settings: Settings, profile: kafka_clients.BrokerProfile) -> None:
        from kafka import TopicPartition

        super().__init__(daemon=True)
        topic = settings.topic(topics.CALL_STATUS)
        self.consumer = kafka_clients.make_consumer(settings, profile, client_id="bench-reader")
        tps = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic))]
        self.consumer.assign(tps)
        self.consumer.seek_to_end()
        self.records = 0
        self.fetches_with_data = 0
        self.latencies: list[float] = []  # send -> returned by poll, per record
        self.started = time.monotonic()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            batch = self.consumer.poll(timeout_ms=200, max_records=2000)
            if batch:
                now = time.monotonic()
                self.fetches_with_data += 1
                for recs in batch.values():
                    for r in recs:
                        # time only this window's producer's records: a fill's records (keys
                        # CP...) or an earlier window's would not carry this run's send time
                        if r.key.startswith(b"CA") and r.value[:8] != b"p" * 8:
                            sent = struct.unpack_from("<d", r.value)[0]
                            if sent >= self.started:
                                self.records += 1
                                self.latencies.append(now - sent)

    def stop(self) -> None:
        self.halt.set()
        self.join()
        self.consumer.close()


def window(pid: int, seconds: float, label: str, prod: Producer, reader: Reader | None) -> Any:
    c0, t0 = cpu_s(pid), time.monotonic()
    polls0 = reader.fetches_with_data if reader else 0
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    row = {
        "phase": label,
        "log_records_at_end": prod.sent,
        "broker_cpu_percent": round(100 * (cpu_s(pid) - c0) / elapsed, 1),
    }
    if reader is not None:
        row["polls_with_data_per_s"] = round((reader.fetches_with_data - polls0) / elapsed, 1)
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


BATCHES = {
    # ingest at a few hundred callbacks/s: its 1 ms linger rarely finds a second record for
    # the same partition, so the log holds about one record per batch
    "ingest": {"linger_ms": 0, "batch_size": 1},
    # a bulk load (benchmarks/projector.py's, an archive restore): batches of up to 256 KiB
    "bulk": {"linger_ms": 20, "batch_size": 262144},
}


def produce_log(settings: Settings, recs: Iterable[tuple[bytes, bytes]], batches: str) -> float:
    """Produce ``recs`` to the call-status topic as fast as the broker takes them, in
    batches as ``BATCHES[batches]`` says; return records/s. Every record must be
    acknowledged: with one record per batch, a fill takes minutes, so the records queued
    behind the others must not expire (the producer's 30 s delivery timeout would drop
    them, and the log would be shorter than it says)."""
    p = kafka_clients.make_producer(
        settings,
        "bench-fill",
        delivery_timeout_ms=3_600_000,
        max_block_ms=3_600_000,
        **BATCHES[batches],
    )
    topic = settings.topic(topics.CALL_STATUS)
    failed: list[BaseException] = []
    n = 0
    t0 = time.perf_counter()
    for k, v in recs:
        p.send(topic, key=k, value=v).add_errback(failed.append)
        n += 1
    p.flush(timeout=3600)
    p.close()
    if failed:
        raise SystemExit(f"{len(failed)} of {n} records were not written: {failed[0]!r}")
    return n / (time.perf_counter() - t0)


def log_length(settings: Settings) -> int:
    """Records in the call-status topic (the sum of its partitions' end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=kafka_clients.bootstrap(settings))
    try:
        topic = settings.topic(topics.CALL_STATUS)
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or []]
        return int(sum(c.end_offsets(tps).values()))
    finally:
        c.close()


def top_up(settings: Settings, first: int, last: int, batches: str) -> float:
    """Records ``first`` .. ``last - 1`` of the fill; returns records/s."""
    recs = ((f"CP{i:032x}".encode(), b"p" * RECORD_BYTES) for i in range(first, last))
    return produce_log(settings, recs, batches)


def by_size(
    pid: int,
    settings: Settings,
    profile: kafka_clients.BrokerProfile,
    sizes: list[int],
    rate: float,
    seconds: float,
    batches: str,
) -> list[dict[str, Any]]:
    """At each log size: ``rate`` records/s produced and read at the tail for ``seconds``;
    the broker's CPU and each record's time from send to being returned by a poll."""
    from benchmarks.loadgen import tree_rss_mib
    from benchmarks.table import ms

    rows = []
    have = 0
    for size in sizes:
        if size > have:
            print(f"filling the log to {size:,} records", file=sys.stderr, flush=True)
            per_s = top_up(settings, have, size, batches)
            print(f"  {per_s:,.0f} records/s", file=sys.stderr, flush=True)
        have = log_length(settings)  # what the broker holds, counted, not assumed
        reader = Reader(settings, profile)
        prod = Producer(settings, rate)
        c0, t0 = cpu_s(pid), time.monotonic()
        reader.start()
        prod.start()
        time.sleep(seconds)
        prod.stop()
        deadline = time.monotonic() + 10
        while reader.records < prod.sent and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        cpu = cpu_s(pid) - c0
        reader.stop()
        lat = reader.latencies
        row = {
            "log_records": have,
            "log_mib": round(have * RECORD_BYTES / 2**20),
            "broker_rss_mib": round(tree_rss_mib(pid)),
            "broker_cpu_percent": round(100 * cpu / elapsed, 1),
            "records_produced": prod.sent,
            "records_read": reader.records,  # within 10 s of the end: the rest are not timed
            "polls_with_data_per_s": round(reader.fetches_with_data / elapsed, 1),
            "send_to_poll_p50_ms": ms(lat, 50),
            "send_to_poll_p99_ms": ms(lat, 99),
            "send_to_poll_max_ms": ms(lat, 100),
        }
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def print_sizes(rows: list[dict[str, Any]], rate: float, seconds: float, batches: str) -> None:
    from benchmarks.table import markdown

    base = rows[0]["broker_cpu_percent"] or 0.1
    print(
        f"\n{rate:g} records/s of {RECORD_BYTES} bytes produced and read at the tail for "
        f"{seconds:g} s at each log length; log filled in {batches} batches; "
        f"load {os.getloadavg()}\n"
    )
    table = [
        [
            "records in the log",
            "broker RSS",
            "broker CPU",
            "÷ first row",
            "polls returning records",
            "read / produced",
            "**send → returned by poll p50 / p99 / max**",
        ]
    ]
    for r in rows:
        table.append(
            [
                f"{r['log_records']:,}",
                f"{r['broker_rss_mib']:,} MiB",
                f"{r['broker_cpu_percent']} %",
                f"{r['broker_cpu_percent'] / base:.1f}",
                f"{r['polls_with_data_per_s']}/s",
                f"{r['records_read']:,} / {r['records_produced']:,}",
                f"**{r['send_to_poll_p50_ms']} / {r['send_to_poll_p99_ms']}** / "
                f"{r['send_to_poll_max_ms']} ms",
            ]
        )
    print(markdown(table))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=200, help="records/s produced")
    ap.add_argument("--window", type=float, default=30, help="seconds per sample")
    ap.add_argument("--windows", type=int, default=4, help="samples with the reader")
    ap.add_argument(
        "--sizes",
        help="instead: comma-separated log lengths (records, ascending); at each, produce and "
        "read at the tail for --window seconds (fetch latency against the log's length)",
    )
    ap.add_argument(
        "--batches",
        choices=sorted(BATCHES),
        default="ingest",
        help="with --sizes: how the fill is batched (ingest: one record per batch, as "
        "ingest writes at a few hundred/s; bulk: up to 256 KiB per batch)",
    )
    ap.add_argument("--json", type=Path, help="also write every figure here")
    args = ap.parse_args()
    sizes: list[int] = []
    if args.sizes:
        try:
            sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
        except ValueError:
            raise SystemExit("--sizes: comma-separated whole numbers of records") from None
        if not sizes or sizes != sorted(sizes) or sizes[0] < 0:
            raise SystemExit("--sizes: ascending, non-negative record counts")
    if args.rate <= 0 or args.window <= 0 or args.windows < 1:
        raise SystemExit("--rate and --window must be > 0, --windows >= 1")
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    try:
        assert broker.proc is not None
        pid = broker.proc.pid
        settings = Settings.from_env(
            env={}, kafka_bootstrap_servers=bootstrap, topic_prefix="bench-broker."
        )
        kafka_clients.ensure_topics(settings)
        profile = kafka_clients.detect_profile(settings)
        if sizes:
            found = by_size(pid, settings, profile, sizes, args.rate, args.window, args.batches)
            print_sizes(found, args.rate, args.window, args.batches)
            if args.json:
                args.json.write_text(json.dumps({"rows": found, "load": os.getloadavg()}))
            return
        prod = Producer(settings, args.rate)
        prod.start()
        rows = [window(pid, args.window, "produce only (baseline)", prod, None)]
        reader = Reader(settings, profile)
        reader.start()
        for k in range(args.windows):
            rows.append(window(pid, args.window, f"produce + reader, window {k + 1}", prod, reader))
        prod.stop()
        rows.append(window(pid, args.window, "reader only, idle log", prod, reader))
        reader.stop()
        base = rows[0]["broker_cpu_percent"] or 0.1
        print(
            json.dumps(
                {
                    "rate": args.rate,
                    "window_s": args.window,
                    "fetch_max_wait_ms": profile.fetch_max_wait_ms,
                    "rows": rows,
                    "reader_windows_vs_baseline": [
                        round(r["broker_cpu_percent"] / base, 1) for r in rows[1:-1]
                    ],
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
        )
    finally:
        broker.kill()


if __name__ == "__main__":
    main()
