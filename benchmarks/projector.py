"""Projector throughput against two baselines, in one run on one broker.

    .venv/bin/python benchmarks/projector.py --calls 40000

(a) reference: the fastest simple writer (kafka-python, json.loads, executemany upserts into a
    calls table and inserts into an events table, one transaction per poll);
(b) naive: one sqlite-utils upsert + insert per callback, each its own commit (measured on
    the first --naive-records records only: at ~1,000/s the whole log would take too long);
(c) callstream's projector as a real process (``callstream projector``) catching up from
    offset 0 with nothing else running: rate from process start and steady rate (10 % to
    90 % of the log), RSS over time;
    (a), (b) and (c) run interleaved --rounds times, so that each ratio compares runs made
    under the same load of a shared machine; the medians of the ratios are reported;
(d) a projector on the caught-up database: GET /calls/{sid} latency first with nothing
    arriving (the baseline), then while it is fed --live-rate callbacks/s; the reader is a
    process of its own with a stdlib keep-alive client;
(e) a second projector catching up from offset 0 (to 30 % of the log) while GET
    /calls/{sid} is measured.

Uses the embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import TopicPartition

from callstream import kafka_clients, topics
from callstream.broker import EmbeddedBroker, free_port
from callstream.envelope import encode
from callstream.settings import Settings

ACCOUNT = "AC" + "0123456789abcdef" * 2
STEPS = ("initiated", "ringing", "in-progress", "completed")


def rfc2822(t: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


def callbacks(n_calls: int, seed: int = 1, first: int = 0) -> list[tuple[bytes, bytes]]:
    """5 callbacks per call: four lifecycle events (order shuffled within a call for a third
    of the calls) and one duplicate; ~1 KB envelopes with Twilio's standard parameters."""
    rnd = random.Random(seed)
    out: list[tuple[bytes, bytes]] = []
    base = 1_790_000_000
    for i in range(first, first + n_calls):
        sid = f"CA{i:032x}"
        evs = []
        for k, st in enumerate(STEPS):
            params = [
                ["AccountSid", ACCOUNT],
                ["ApiVersion", "2010-04-01"],
                ["CallSid", sid],
                ["CallStatus", st],
                ["Called", "+14155550199"],
                ["CalledCity", "SAN FRANCISCO"],
                ["CalledCountry", "US"],
                ["CalledState", "CA"],
                ["CalledZip", "94105"],
                ["Caller", "+14155550100"],
                ["CallerCity", "OAKLAND"],
                ["CallerCountry", "US"],
                ["CallerState", "CA"],
                ["CallerZip", "94601"],
                ["CallbackSource", "call-progress-events"],
                ["Direction", "outbound-api"],
                ["From", "+14155550100"],
                ["FromCity", "OAKLAND"],
                ["FromCountry", "US"],
                ["FromState", "CA"],
                ["FromZip", "94601"],
                ["SequenceNumber", str(k)],
                ["Timestamp", rfc2822(base + i + k * 3)],
                ["To", "+14155550199"],
                ["ToCity", "SAN FRANCISCO"],
                ["ToCountry", "US"],
                ["ToState", "CA"],
                ["ToZip", "94105"],
            ]
            if st == "completed":
                params += [
                    ["CallDuration", str(rnd.randint(1, 300))],
                    ["Duration", "1"],
                    ["SipResponseCode", "200"],
                ]
            evs.append(
                encode(
                    f"2026-11-25T12:00:00.{i % 1000000:06d}Z",
                    "POST",
                    "https://hooks.example.com/twilio/status",
                    params,
                    None,
                )
            )
        if i % 3 == 0:
            rnd.shuffle(evs)
        evs.append(evs[rnd.randrange(4)])
        out += [(sid.encode(), v) for v in evs]
    return out


def produce(settings: Settings, recs: list[tuple[bytes, bytes]]) -> float:
    p = kafka_clients.make_producer(settings, "bench-producer", linger_ms=20, batch_size=262144)
    t0 = time.perf_counter()
    topic = settings.topic(topics.CALL_STATUS)
    for k, v in recs:
        p.send(topic, key=k, value=v)
    p.flush(timeout=600)
    p.close()
    return len(recs) / (time.perf_counter() - t0)


def _consumer(settings: Settings, profile: kafka_clients.BrokerProfile) -> tuple[Any, list[Any]]:
    c = kafka_clients.make_consumer(
        settings,
        profile,
        client_id="bench",
        max_poll_records=2000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    t = settings.topic(topics.CALL_STATUS)
    tps = [TopicPartition(t, p) for p in sorted(c.partitions_for_topic(t) or [])]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    return c, tps


def reference_writer(
    settings: Settings, profile: kafka_clients.BrokerProfile, total: int, db: Path
) -> float:
    """(a) consume, json.loads, executemany into calls + events, one transaction per poll."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE calls (call_sid TEXT PRIMARY KEY, status TEXT, seq INTEGER, updated TEXT)"
    )
    conn.execute(
        "CREATE TABLE events (call_sid TEXT, seq INTEGER, status TEXT, ts TEXT, params TEXT)"
    )
    c, _ = _consumer(settings, profile)
    n = 0
    t0 = time.perf_counter()
    while n < total:
        batch = c.poll(timeout_ms=500)
        calls, events = [], []
        for recs in batch.values():
            for r in recs:
                obj = json.loads(r.value)
                p = dict(obj["params"])
                calls.append(
                    (p["CallSid"], p["CallStatus"], int(p["SequenceNumber"]), p["Timestamp"])
                )
                events.append(
                    (
                        p["CallSid"],
                        int(p["SequenceNumber"]),
                        p["CallStatus"],
                        p["Timestamp"],
                        json.dumps(obj["params"]),
                    )
                )
        n += len(events)
        with conn:
            conn.executemany(
                "INSERT INTO calls VALUES (?, ?, ?, ?) ON CONFLICT(call_sid) DO UPDATE SET "
                "status = excluded.status, seq = excluded.seq, updated = excluded.updated "
                "WHERE excluded.seq > calls.seq",
                calls,
            )
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", events)
    rate = n / (time.perf_counter() - t0)
    c.close()
    conn.close()
    return rate


def naive_writer(
    settings: Settings, profile: kafka_clients.BrokerProfile, limit: int, db: Path
) -> float:
    """(b) one sqlite-utils upsert (one commit) per callback, plus the event insert."""
    from sqlite_utils import Database

    d = Database(db)
    d.enable_wal()
    c, _ = _consumer(settings, profile)
    n = 0
    t0 = time.perf_counter()
    while n < limit:
        for recs in c.poll(timeout_ms=500, max_records=200).values():
            for r in recs:
                obj = json.loads(r.value)
                p = dict(obj["params"])
                d["calls"].upsert(
                    {
                        "call_sid": p["CallSid"],
                        "status": p["CallStatus"],  # type: ignore[union-attr]
                        "seq": int(p["SequenceNumber"]),
                    },
                    pk="call_sid",
                )
                d["events"].insert(
                    {
                        "call_sid": p["CallSid"],  # type: ignore[union-attr]
                        "seq": int(p["SequenceNumber"]),
                        "params": json.dumps(obj["params"]),
                    }
                )
                n += 1
    rate = n / (time.perf_counter() - t0)
    c.close()
    d.close()
    return rate


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children_rss_kib(pid: int) -> int:
    """RSS of ``pid``'s child processes (the projector's API process)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    return sum(rss_kib(int(k)) for k in kids)


def applied(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return int(
                c.execute("SELECT COALESCE(SUM(next_offset), 0) FROM projector_offsets").fetchone()[
                    0
                ]
            )
    except sqlite3.OperationalError:
        return 0


def _pct(lat: list[float]) -> dict[str, Any]:
    lat = sorted(lat)
    if not lat:
        return {"requests": 0}
    return {
        "requests": len(lat),
        "p50_ms": round(1000 * statistics.median(lat), 2),
        "p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 2),
    }


def _start_projector(settings: Settings, db: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "CALLSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "CALLSTREAM_DB": str(db),
        "CALLSTREAM_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "callstream.cli", "projector", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return proc, port


def _read_calls(port: int, n_calls: int, seed: int, ctl: Any) -> None:
    """In its own process: GET /calls/{sid} for random known calls over one keep-alive
    connection (stdlib client, so the client's own cost stays small), one request every
    ~5 ms, until told to stop; then send back the latencies."""
    import http.client

    rnd = random.Random(seed)
    lat: list[float] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not ctl.poll():
        sid = f"CA{rnd.randrange(n_calls):032x}"
        try:
            t = time.perf_counter()
            conn.request("GET", f"/calls/{sid}")
            conn.getresponse().read()
            lat.append(time.perf_counter() - t)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            time.sleep(0.05)
        time.sleep(0.005)
    conn.close()
    ctl.send(lat)


class Reader:
    """A reader process: the benchmark's own threads (producer, polling) do not share its
    GIL, so the figures are the API's latency, not the benchmark's."""

    def __init__(self, port: int, n_calls: int, seed: int = 2) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ctl, child = ctx.Pipe()
        self.proc = ctx.Process(target=_read_calls, args=(port, n_calls, seed, child))
        self.proc.daemon = True

    def start(self) -> None:
        self.proc.start()

    def take(self) -> list[float]:
        """Stop the reader and return its latencies (seconds)."""
        self.ctl.send("stop")
        lat: list[float] = self.ctl.recv()
        self.proc.join(timeout=10)
        return lat


def _wait_applied(
    db: Path,
    target: int,
    proc: subprocess.Popen[bytes],
    marks: dict[float, float] | None = None,
    t0: float = 0.0,
    rss: list[tuple[int, int]] | None = None,
) -> None:
    while True:
        n = applied(db)
        if marks is not None and rss is not None:
            now = time.perf_counter() - t0
            for f in (0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
                if f not in marks and n >= f * target:
                    marks[f] = now
                    rss.append((int(f * 100), rss_kib(proc.pid)))
        if n >= target:
            return
        if proc.poll() is not None:
            raise SystemExit("projector exited early")
        time.sleep(0.05)


def catchup(settings: Settings, total: int, db: Path) -> dict[str, Any]:
    """(c) ``callstream projector`` from offset 0 as a separate process, nothing else running:
    rate from process start, steady rate (10 % to 90 % of the log), RSS along the way."""
    t0 = time.perf_counter()
    proc, _port = _start_projector(settings, db)
    marks: dict[float, float] = {}
    rss: list[tuple[int, int]] = []
    try:
        _wait_applied(db, total, proc, marks, t0, rss)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "rate_from_process_start": round(total / marks[1.0]),
        "steady_rate_10_to_90": round(0.8 * total / (marks[0.9] - marks[0.1])),
        "rss_kib_at_percent": rss,
    }


def projector_run(
    settings: Settings, total: int, n_calls: int, work: Path, live_rate: int, live_s: float
) -> dict[str, Any]:
    """(d) a projector on the caught-up ``work/projector.db`` fed ``live_rate`` callbacks/s
    while GET /calls/{sid} is measured; (e) a second projector catching up from offset 0,
    GET measured meanwhile."""
    db = work / "projector.db"
    proc, port = _start_projector(settings, db)
    out: dict[str, Any] = {}
    try:
        _wait_applied(db, total, proc)
        # the baseline: the same projector process, caught up and not writing
        reader = Reader(port, n_calls, seed=3)
        reader.start()
        time.sleep(live_s)
        out["get_call_idle"] = _pct(reader.take())
        reader = Reader(port, n_calls)
        reader.start()
        extra = callbacks(int(live_rate * live_s) // 5 + 1, seed=9, first=n_calls)
        p = kafka_clients.make_producer(settings, "bench-live")
        topic = settings.topic(topics.CALL_STATUS)
        start = time.perf_counter()
        for i, (k, v) in enumerate(extra):
            due = start + i / live_rate
            while time.perf_counter() < due:
                time.sleep(0.001)
            p.send(topic, key=k, value=v)
        p.flush()
        p.close()
        _wait_applied(db, total + len(extra), proc)
        out["get_call_while_live_writing"] = {"callbacks_per_s": live_rate, **_pct(reader.take())}
        out["rss_kib_after_live"] = rss_kib(proc.pid)
        out["api_process_rss_kib_after_live"] = children_rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # (e) catching up with readers: a fresh database, stopped at 30 % of the log
    db2 = work / "projector2.db"
    proc, port = _start_projector(settings, db2)
    try:
        reader = Reader(port, n_calls)
        while applied(db2) == 0:
            time.sleep(0.05)
        t1, n1 = time.perf_counter(), applied(db2)
        reader.start()
        _wait_applied(db2, int(0.3 * total), proc)
        n2 = applied(db2)
        lat = reader.take()
        out["get_call_while_catching_up"] = {
            **_pct(lat),
            "projector_rate_meanwhile": round((n2 - n1) / (time.perf_counter() - t1)),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200_000, help="calls (5 callbacks each)")
    ap.add_argument("--naive-records", type=int, default=10_000)
    ap.add_argument("--live-rate", type=int, default=500, help="callbacks/s in phase (d)")
    ap.add_argument("--live-seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved (a), (b), (c) rounds")
    args = ap.parse_args()
    from kafka.record.util import crc32c_c  # type: ignore[attr-defined]

    work = Path(tempfile.mkdtemp(prefix="bench-projector-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker()
        bootstrap = broker.start()
    try:
        settings = Settings.from_env(
            env={}, kafka_bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}."
        )
        profile = kafka_clients.detect_profile(settings)
        kafka_clients.ensure_topics(settings)
        recs = callbacks(args.calls)
        total = len(recs)
        print(f"producing {total:,} callbacks for {args.calls:,} calls", file=sys.stderr)
        prod_rate = produce(settings, recs)
        del recs
        rounds = []
        for r in range(args.rounds):
            print(f"round {r + 1}: (a) reference writer", file=sys.stderr)
            ref = reference_writer(settings, profile, total, work / f"ref{r}.db")
            print(f"round {r + 1}: (b) naive writer", file=sys.stderr)
            naive = naive_writer(settings, profile, args.naive_records, work / f"naive{r}.db")
            print(f"round {r + 1}: (c) callstream projector", file=sys.stderr)
            db = work / "projector.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            c = catchup(settings, total, db)
            rounds.append(
                {
                    "a_reference_rate": round(ref),
                    "b_naive_rate": round(naive),
                    "c_projector": c,
                    "c_steady_vs_a": round(c["steady_rate_10_to_90"] / ref, 3),
                    "c_from_start_vs_a": round(c["rate_from_process_start"] / ref, 3),
                    "c_steady_vs_b": round(c["steady_rate_10_to_90"] / naive, 1),
                }
            )
        print("(d) live writing and (e) catching up, with GET /calls/{sid}", file=sys.stderr)
        proj = projector_run(settings, total, args.calls, work, args.live_rate, args.live_seconds)

        def med(key: str) -> float:
            return float(statistics.median(r[key] for r in rounds))

        out = {
            "callbacks": total,
            "calls": args.calls,
            "broker": profile.name,
            "fetch_max_wait_ms": profile.fetch_max_wait_ms,
            "crc32c_c_extension": crc32c_c is not None,
            "produce_rate": round(prod_rate),
            "b_naive_records_measured": args.naive_records,
            "rounds": rounds,
            "median_c_steady_vs_a": med("c_steady_vs_a"),
            "median_c_from_start_vs_a": med("c_from_start_vs_a"),
            "median_c_steady_vs_b": med("c_steady_vs_b"),
            "get_call": proj,
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
        }
        print(json.dumps(out, indent=2))
    finally:
        if broker is not None:
            broker.kill()


if __name__ == "__main__":
    main()
