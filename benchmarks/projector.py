"""Projector throughput against two baselines, in one run on one broker, on the workload
model's logs (``benchmarks/workload.py``).

    .venv/bin/python benchmarks/projector.py --calls 25000 --rounds 3

The log: ``--calls`` calls arriving at ``--rate`` calls/s (Poisson), their callbacks in
delivery order, so thousands of calls are in flight and a poll touches many of them. Three
shapes of the same callbacks, each on topics of its own, each a labelled row:
``interleaved`` (delivery order, compact envelopes as ingest writes them), ``adjacent``
(grouped call by call: the older benchmark's shape, which flatters in-batch folding), and
``spaced`` (interleaved, the envelope written with spaces after ``,`` and ``:``: valid JSON
in another layout). Reported for each: distinct calls per poll of 2,000 records, in log
order and as the reference writer actually polled them.

(a) reference: the fastest simple writer (kafka-python, json.loads, executemany upserts into a
    calls table and inserts into an events table, one transaction per poll);
(b) naive: one sqlite-utils upsert + insert per callback, each its own commit (measured on
    the first --naive-records records only: at ~1,000/s the whole log would take too long);
(c) callstream's projector as a real process (``callstream projector``) catching up from
    offset 0 with nothing else running: rate from process start and steady rate (10 % to
    90 % of the log), RSS over time; also records per CPU-second of its consumer process
    against (a)'s per CPU-second of this process (steadier than wall time on a shared
    machine, where other loads take the cores);
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import TopicPartition

from benchmarks import workload
from callstream import kafka_clients, topics
from callstream.broker import EmbeddedBroker, free_port
from callstream.envelope import encode
from callstream.settings import Settings

SHAPES = ("interleaved", "adjacent", "spaced")
SHAPE_ROW = {
    "interleaved": "interleaved",
    "adjacent": "adjacent (older shape)",
    "spaced": "spaced layout",
}
SHAPE_LABELS = {
    "interleaved": "interleaved (workload model, delivery order), compact envelopes",
    "adjacent": "adjacent (the same callbacks grouped call by call: the older shape), compact",
    "spaced": "interleaved, envelopes with spaces after ',' and ':' (another valid layout)",
}
URL = "https://hooks.example.com/twilio/status"
POLL = 2000  # max_poll_records of every consumer here, as the projector's
# records per CPU-second of each reference_writer run (this process's CPU time)
REFERENCE_CPU_RATE: list[float] = []


def iso(t: float) -> str:
    """ingest's received_at: ISO 8601 UTC with microseconds."""
    whole = int(t)
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{head}.{round((t - whole) * 1e6) % 1000000:06d}Z"


def encode_spaced(received_at: str, params: Any) -> bytes:
    """The envelope with json's default separators: the same keys in the same order, valid
    JSON, but not the layout ingest writes (the contract's own example is laid out so)."""
    obj = {
        "v": 1,
        "received_at": received_at,
        "method": "POST",
        "url": URL,
        "params": params,
        "idempotency_token": None,
    }
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def log_of(cbs: list[workload.Callback], shape: str) -> list[tuple[bytes, bytes]]:
    """The records of ``cbs`` (keyed by CallSid, as ingest keys them) in the shape's order
    and layout."""
    if shape == "adjacent":
        cbs = workload.adjacent(cbs)
    if shape == "spaced":
        return [(cb.call_sid.encode(), encode_spaced(iso(cb.at), cb.params)) for cb in cbs]
    return [(cb.call_sid.encode(), encode(iso(cb.at), "POST", URL, cb.params, None)) for cb in cbs]


def callbacks(
    n_calls: int, seed: int = 1, first: int = 0, rate: float = 30.0
) -> list[tuple[bytes, bytes]]:
    """The workload model's callbacks of ``n_calls`` calls, interleaved, compact."""
    cbs = list(workload.callbacks(n_calls, workload.Shape(rate=rate), seed=seed, first=first))
    return log_of(cbs, "interleaved")


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
) -> tuple[float, float]:
    """(a) consume, json.loads, executemany into calls + events, one transaction per poll.
    Returns the rate and the distinct CallSids an average poll touched (as polled: a poll
    takes records of several partitions)."""
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
    distinct: list[int] = []
    t0 = time.perf_counter()
    cpu0 = time.process_time()
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
        if events:
            distinct.append(len({e[0] for e in events}))
        with conn:
            conn.executemany(
                "INSERT INTO calls VALUES (?, ?, ?, ?) ON CONFLICT(call_sid) DO UPDATE SET "
                "status = excluded.status, seq = excluded.seq, updated = excluded.updated "
                "WHERE excluded.seq > calls.seq",
                calls,
            )
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", events)
    rate = n / (time.perf_counter() - t0)
    REFERENCE_CPU_RATE.append(n / max(time.process_time() - cpu0, 0.01))
    c.close()
    conn.close()
    return rate, sum(distinct) / max(1, len(distinct))


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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    cpu: dict[float, float] | None = None,
) -> None:
    while True:
        n = applied(db)
        if marks is not None and rss is not None:
            now = time.perf_counter() - t0
            for f in (0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
                if f not in marks and n >= f * target:
                    marks[f] = now
                    rss.append((int(f * 100), rss_kib(proc.pid)))
                    if cpu is not None:
                        cpu[f] = cpu_s(proc.pid)
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
    cpu: dict[float, float] = {}
    try:
        _wait_applied(db, total, proc, marks, t0, rss, cpu)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "rate_from_process_start": round(total / marks[1.0]),
        "steady_rate_10_to_90": round(0.8 * total / (marks[0.9] - marks[0.1])),
        # records per CPU-second of the projector's consumer process (10 % to 90 %): on a
        # shared machine far steadier than the wall-clock rate, which other loads halve
        "steady_per_cpu_s_10_to_90": round(0.8 * total / max(cpu[0.9] - cpu[0.1], 0.01)),
        "rss_kib_at_percent": rss,
    }


def projector_run(
    settings: Settings,
    total: int,
    n_calls: int,
    work: Path,
    live_rate: int,
    live_s: float,
    shape: str,
) -> dict[str, Any]:
    """(d) a projector on the caught-up ``work/projector-<shape>.db`` fed ``live_rate`` callbacks/s
    while GET /calls/{sid} is measured; (e) a second projector catching up from offset 0,
    GET measured meanwhile."""
    db = work / f"projector-{shape}.db"
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
        extra = callbacks(int(live_rate * live_s) // 4 + 1, seed=9, first=n_calls)
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


def markdown(
    rounds: dict[str, list[dict[str, Any]]], model: dict[str, Any], load: list[float]
) -> str:
    """The per-round table of docs/benchmarks.md, ready to paste: per shape and round
    (a) / (c) steady / (c)/(a) steady, and the medians."""
    n = max(len(v) for v in rounds.values())
    head = ["shape", "distinct calls per poll (log order / as polled)"]
    head += [f"round {i + 1}" for i in range(n)]
    head += ["**median (c)/(a) steady**", "median (c)/(a) from start", "median (c)/(a) per CPU-s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for shape, rows in rounds.items():
        polled = statistics.median(r["distinct_calls_per_poll_as_polled"] for r in rows)
        in_log = model["shapes"][shape]["distinct_calls_per_poll_of_2000_in_log_order"]
        cells = [SHAPE_ROW[shape], f"{in_log:,.0f} / {polled:,.0f}"]
        for r in rows:
            c = r["c_projector"]["steady_rate_10_to_90"]
            cells.append(f"{r['a_reference_rate']:,} / {c:,}/s / {r['c_steady_vs_a']:.2f}")
        steady = statistics.median(r["c_steady_vs_a"] for r in rows)
        start = statistics.median(r["c_from_start_vs_a"] for r in rows)
        per_cpu = statistics.median(r["c_vs_a_per_cpu_s"] for r in rows)
        cells += [f"**{steady:.2f}**", f"{start:.2f}", f"{per_cpu:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"1-minute load average: {load[0]:.2f} at the start, {load[1]:.2f} at the end "
        f"({os.cpu_count()} CPUs)"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200_000, help="calls (about 4.3 callbacks each)")
    ap.add_argument("--rate", type=float, default=30.0, help="call arrivals/s in the model")
    ap.add_argument("--naive-records", type=int, default=10_000)
    ap.add_argument("--live-rate", type=int, default=500, help="callbacks/s in phase (d)")
    ap.add_argument("--live-seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved (a), (b), (c) rounds")
    ap.add_argument(
        "--shapes",
        default=",".join(SHAPES),
        help=f"comma-separated, of {', '.join(SHAPES)} (the first also gets (b), (d), (e))",
    )
    args = ap.parse_args()
    shapes = [x for x in args.shapes.split(",") if x]
    if not shapes or any(x not in SHAPES for x in shapes):
        raise SystemExit(f"--shapes: choose among {', '.join(SHAPES)}")
    from kafka.record.util import crc32c_c  # type: ignore[attr-defined]

    load_at_start = os.getloadavg()[0]

    work = Path(tempfile.mkdtemp(prefix="bench-projector-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker()
        bootstrap = broker.start()
    try:
        run = uuid.uuid4().hex[:6]
        settings = {
            shape: Settings.from_env(
                env={}, kafka_bootstrap_servers=bootstrap, topic_prefix=f"bench{run}{shape[:3]}."
            )
            for shape in shapes
        }
        profile = kafka_clients.detect_profile(settings[shapes[0]])
        cbs = list(workload.callbacks(args.calls, workload.Shape(rate=args.rate)))
        total = len(cbs)
        model: dict[str, Any] = {"in_flight_max": workload.in_flight(cbs), "shapes": {}}
        prod_rate: dict[str, int] = {}
        for shape in shapes:
            kafka_clients.ensure_topics(settings[shape])
            recs = log_of(cbs, shape)
            sizes: Sequence[int] = [len(v) for _, v in recs]
            model["shapes"][shape] = {
                "distinct_calls_per_poll_of_2000_in_log_order": round(
                    workload.distinct_calls_per_poll([k.decode() for k, _ in recs], POLL), 1
                ),
                "mean_record_bytes": round(statistics.mean(sizes)),
            }
            print(
                f"{shape}: producing {total:,} callbacks of {args.calls:,} calls", file=sys.stderr
            )
            prod_rate[shape] = round(produce(settings[shape], recs))
            del recs
        del cbs
        rounds: dict[str, list[dict[str, Any]]] = {shape: [] for shape in shapes}
        for r in range(args.rounds):
            for shape in shapes:
                s = settings[shape]
                print(f"round {r + 1} {shape}: (a) reference writer", file=sys.stderr)
                ref, per_poll = reference_writer(s, profile, total, work / f"ref{r}{shape}.db")
                row: dict[str, Any] = {
                    "a_reference_rate": round(ref),
                    "a_reference_per_cpu_s": round(REFERENCE_CPU_RATE[-1]),
                    "distinct_calls_per_poll_as_polled": round(per_poll, 1),
                }
                if shape == shapes[0]:
                    print(f"round {r + 1} {shape}: (b) naive writer", file=sys.stderr)
                    naive = naive_writer(s, profile, args.naive_records, work / f"naive{r}.db")
                    row["b_naive_rate"] = round(naive)
                print(f"round {r + 1} {shape}: (c) callstream projector", file=sys.stderr)
                db = work / f"projector-{shape}.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                c = catchup(s, total, db)
                row["c_projector"] = c
                row["c_steady_vs_a"] = round(c["steady_rate_10_to_90"] / ref, 3)
                row["c_from_start_vs_a"] = round(c["rate_from_process_start"] / ref, 3)
                row["c_vs_a_per_cpu_s"] = round(
                    c["steady_per_cpu_s_10_to_90"] / row["a_reference_per_cpu_s"], 3
                )
                if "b_naive_rate" in row:
                    row["c_steady_vs_b"] = round(c["steady_rate_10_to_90"] / naive, 1)
                rounds[shape].append(row)
                print(
                    f"  {shape}: (a) {ref:,.0f}/s  (c) steady {c['steady_rate_10_to_90']:,}/s  "
                    f"(c)/(a) {row['c_steady_vs_a']}  per CPU-s {row['c_vs_a_per_cpu_s']}  "
                    f"load {os.getloadavg()[0]:.2f}",
                    file=sys.stderr,
                )
        print("(d) live writing and (e) catching up, with GET /calls/{sid}", file=sys.stderr)
        proj = projector_run(
            settings[shapes[0]],
            total,
            args.calls,
            work,
            args.live_rate,
            args.live_seconds,
            shapes[0],
        )

        def med(shape: str, key: str) -> float:
            return float(statistics.median(r[key] for r in rounds[shape] if key in r))

        out = {
            "callbacks": total,
            "calls": args.calls,
            "call_rate_in_model": args.rate,
            "model": model,
            "broker": profile.name,
            "fetch_max_wait_ms": profile.fetch_max_wait_ms,
            "crc32c_c_extension": crc32c_c is not None,
            "produce_rate": prod_rate,
            "b_naive_records_measured": args.naive_records,
            "rounds": rounds,
            "medians": {
                shape: {
                    "label": SHAPE_LABELS[shape],
                    "c_steady_vs_a": med(shape, "c_steady_vs_a"),
                    "c_from_start_vs_a": med(shape, "c_from_start_vs_a"),
                    "c_vs_a_per_cpu_s": med(shape, "c_vs_a_per_cpu_s"),
                    **(
                        {"c_steady_vs_b": med(shape, "c_steady_vs_b")} if shape == shapes[0] else {}
                    ),
                }
                for shape in shapes
            },
            "get_call": proj,
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
        }
        print(json.dumps(out, indent=2))
        print(markdown(rounds, model, [load_at_start, os.getloadavg()[0]]), file=sys.stderr)
    finally:
        if broker is not None:
            broker.kill()


if __name__ == "__main__":
    main()
