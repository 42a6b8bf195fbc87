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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from callstream import kafka_clients, topics
from callstream.broker import EmbeddedBroker
from callstream.settings import Settings


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
        value = b"x" * 1000
        start = time.perf_counter()
        while not self.halt.is_set():
            due = start + self.sent / self.rate
            while time.perf_counter() < due:
                time.sleep(0.001)
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
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            batch = self.consumer.poll(timeout_ms=200, max_records=2000)
            if batch:
                self.fetches_with_data += 1
                self.records += sum(len(v) for v in batch.values())

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=200, help="records/s produced")
    ap.add_argument("--window", type=float, default=30, help="seconds per sample")
    ap.add_argument("--windows", type=int, default=4, help="samples with the reader")
    args = ap.parse_args()
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
