"""End-to-end latency on the workload model: a callback's scheduled send -> its row visible.

    .venv/bin/python benchmarks/e2e.py --rate 200 --seconds 60

Real processes on loopback (``callstream broker``, ``projector``, ``ingest``), started
afresh for each row. The callbacks are the workload model's (``benchmarks/workload.py``):
from ``--skip`` simulated seconds on (the steady state: thousands of calls in flight, each
call's callbacks spread over its ringing and talking time), in delivery order, at the
model's relative times with its clock sped up so that they average ``--rate`` per second.
Rows:

* ``model``: that replay;
* ``adjacent``: the same callbacks grouped call by call at the same send times (the older
  benchmark's shape, kept as a labelled second row; ``--rows model`` skips it).

The load: ``wrk`` (C, one thread, ``--connections`` keep-alive connections) paced by a Lua
script that sends each callback at its due time (``loadgen.PACED_LUA``); its own CPU is
reported, and how late it sent. For every callback's first delivery, latency is from its
*scheduled* send to its event row (``call_events``: CallSid, SequenceNumber) being
visible in the SQLite file, polled every 2 ms through a read-only connection (what
``GET /calls/{sid}`` reads); reported overall and per window of the run, with the
broker's CPU (Tansu and its wrapper) per window.

``--preload N`` first writes N records of other calls of the model into the topic (and
waits until the projector has applied them), so the run starts with a log that long: the
embedded broker keeps its whole log in memory, and this measures latency against the
log's length. ``--preload-batches`` says how those records are batched: ``ingest`` (one
record per batch, as ingest's 1 ms linger writes them at a few hundred a second; the
default) or ``bulk`` (up to 256 KiB per batch, as a bulk load writes them).

Target (issue 4): p99 under 50 ms at 200 callbacks/s. Needs ``wrk`` (``apt-get install
wrk``). Progress on stderr; a table on stdout; ``--json FILE`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import workload
from benchmarks.ingest_wrk import find_wrk
from benchmarks.loadgen import Paced, tree_cpu_s, write_signed
from benchmarks.table import markdown, ms
from tests.helpers import AUTH_TOKEN
from tests.support.pipeline import Pipeline

ROWS = ("model", "adjacent")
LABELS = {
    "model": "workload model, delivery order",
    "adjacent": "adjacent (grouped call by call: the older shape)",
}
ROW_FIRST_CALL = {"model": 0, "adjacent": 10**8}  # CallSid ranges of their own
PRELOAD_FIRST_CALL = 2 * 10**8


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def preload(pipe: Pipeline, records: int, rate: float, batches: str) -> dict[str, Any]:
    """Write ``records`` records of the model (other calls) straight into the topic, batched
    as ``batches`` says (``embedded_broker.BATCHES``)."""
    from benchmarks.embedded_broker import produce_log
    from benchmarks.projector import log_of
    from callstream.settings import Settings

    cbs = []
    for cb in workload.callbacks(10**9, workload.Shape(rate=rate), first=PRELOAD_FIRST_CALL):
        cbs.append(cb)
        if len(cbs) == records:
            break
    settings = Settings.from_env(env={}, kafka_bootstrap_servers=pipe.bootstrap)
    recs = log_of(cbs, "interleaved")
    note(f"preloading {records:,} records into the topic ({batches} batches)")
    per_s = produce_log(settings, recs, batches)
    events = len({(cb.call_sid, workload.sequence_of(cb)) for cb in cbs})
    return {
        "records": records,
        "batches": batches,
        "event_rows": events,
        "produce_rate": round(per_s),
    }


def event_rows(db: str) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM call_events").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return 0


class Watcher(threading.Thread):
    """Polls call_events every 2 ms; records when each (CallSid, SequenceNumber) appears,
    and the broker's CPU at every window boundary."""

    def __init__(self, db: str, expect: set[tuple[str, int]], broker_pid: int) -> None:
        super().__init__(daemon=True)
        self.db, self.expect, self.broker_pid = db, expect, broker_pid
        self.seen: dict[tuple[str, int], float] = {}
        self.cpu: list[tuple[float, float]] = []  # (monotonic, broker CPU seconds)
        self.halt = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        (top,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM call_events").fetchone()
        next_cpu = 0.0
        while not self.halt.is_set() and not self.expect.issubset(self.seen):
            rows = conn.execute(
                "SELECT rowid, call_sid, sequence_number FROM call_events WHERE rowid > ?",
                (top,),
            ).fetchall()
            now = time.monotonic()
            for rowid, sid, seq in rows:
                top = max(top, rowid)
                self.seen.setdefault((sid, seq), now)
            if now >= next_cpu:
                self.cpu.append((now, tree_cpu_s(self.broker_pid)))
                next_cpu = now + 1.0
            time.sleep(0.002)
        self.cpu.append((time.monotonic(), tree_cpu_s(self.broker_pid)))
        conn.close()


def per_window(
    due: dict[tuple[str, int], float],
    seen: dict[tuple[str, int], float],
    cpu: list[tuple[float, float]],
    start_at: float,
    window: float,
) -> list[dict[str, Any]]:
    buckets: dict[int, list[float]] = {}
    for key, d in due.items():
        if key in seen:
            buckets.setdefault(int(d // window), []).append(seen[key] - (start_at + d))
    out = []
    for k, v in sorted(buckets.items()):
        lo, hi = start_at + k * window, start_at + (k + 1) * window
        pts = [(t, c) for t, c in cpu if lo <= t <= hi]
        share = (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]) if len(pts) > 1 else None
        out.append(
            {
                "from_s": round(k * window),
                "row_p50_ms": ms(v, 50),
                "row_p99_ms": ms(v, 99),
                "row_max_ms": ms(v, 100),
                "broker_cpu_percent": None if share is None else round(100 * share, 1),
            }
        )
    return out


def run_row(row: str, timed: list[workload.Timed], args: Any, work: Path) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"{row}-", dir=work))
    with Pipeline(tmp) as pipe:
        pipe.start("broker")
        broker = pipe["broker"].proc
        assert broker is not None
        loaded = None
        if args.preload:
            loaded = preload(pipe, args.preload, args.call_rate, args.preload_batches)
        t0 = time.monotonic()
        # the projector is ready once caught up: with a long preload that takes longer
        # than the pipeline's 60 s start timeout, so wait for it to be live, then below
        pipe.start("projector", ready="/livez")
        if loaded is not None:
            # every event row of the preload applied (the lag metric reads 0 before the
            # projector's first fetch, so it cannot tell)
            while event_rows(pipe.env["CALLSTREAM_DB"]) < loaded["event_rows"]:
                if time.monotonic() - t0 > 600:
                    raise SystemExit("the projector did not catch up with the preload in 10 min")
                time.sleep(0.5)
            loaded["projector_caught_up_s"] = round(time.monotonic() - t0, 1)
            note(f"projector caught up with the preload in {loaded['projector_caught_up_s']} s")
        pipe["projector"].wait_ready("/readyz")
        pipe.start("ingest")
        public = pipe.env["CALLSTREAM_PUBLIC_URL"]
        reqs = tmp / "requests.tsv"
        write_signed(((t.due, t.cb.params) for t in timed), reqs, public, AUTH_TOKEN)
        due = workload.first_sends(timed)
        watcher = Watcher(pipe.env["CALLSTREAM_DB"], set(due), broker.pid)
        seconds = timed[-1].due + 1
        note(f"{row}: {len(timed):,} callbacks over {seconds:.0f} s (wrk, paced)")
        gen = Paced(pipe["ingest"].url, reqs, seconds + 2.5, args.connections, tmp, lead=2.0)
        procs = {n: pipe[n].proc for n in ("ingest", "projector")}
        cpu0 = {n: tree_cpu_s(p.pid) for n, p in procs.items() if p is not None}
        watcher.start()
        res = gen.wait()
        cpu = {
            n: round(100 * (tree_cpu_s(procs[n].pid) - c) / res.wall_s, 1)  # type: ignore[union-attr]
            for n, c in cpu0.items()
        }
        end = time.monotonic()
        while watcher.is_alive() and time.monotonic() - end < 30:
            watcher.join(0.2)
        watcher.halt.set()
        watcher.join()
        lat = [watcher.seen[k] - (gen.start_at + d) for k, d in due.items() if k in watcher.seen]
        window = 60.0 if seconds >= 120 else max(5.0, seconds / 4)
        sids = [t.cb.call_sid for t in timed]
        return {
            "row": row,
            "label": LABELS[row],
            "callbacks_sent": len(res.late_s),
            "callbacks_scheduled": len(timed),
            "event_rows_expected": len(due),
            "not_visible": len(due) - len(lat),
            "distinct_calls_per_2000": round(workload.distinct_calls_per_poll(sids, 2000), 1),
            "distinct_calls_in_run": len(set(sids)),
            "non_2xx": res.report["non2xx"],
            "socket_errors": res.report["socket_errors"],
            "ingest_p50_ms": round(res.report["p50"], 1),
            "ingest_p99_ms": round(res.report["p99"], 1),
            "send_late_p50_ms": ms(res.late_s, 50),
            "send_late_p99_ms": ms(res.late_s, 99),
            "send_late_max_ms": ms(res.late_s, 100),
            "wrk_cpu_percent": round(100 * res.cpu_share, 1),
            "row_p50_ms": ms(lat, 50),
            "row_p99_ms": ms(lat, 99),
            "row_max_ms": ms(lat, 100),
            "row_by_window": per_window(due, watcher.seen, watcher.cpu, gen.start_at, window),
            "preload": loaded,
            "cpu_percent_during_run": cpu,
            "processes_dead_at_end": [n for n, p in pipe.procs.items() if p.proc and not p.alive()],
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=200, help="callbacks/s sent (average)")
    ap.add_argument("--seconds", type=float, default=60, help="length of each row's run")
    ap.add_argument("--call-rate", type=float, default=30, help="call arrivals/s in the model")
    ap.add_argument(
        "--skip", type=float, default=600, help="simulated seconds of the model skipped first"
    )
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {ROWS}")
    ap.add_argument("--connections", type=int, default=32, help="wrk's connections")
    ap.add_argument("--preload", type=int, default=0, help="records in the topic beforehand")
    ap.add_argument(
        "--preload-batches",
        choices=("ingest", "bulk"),
        default="ingest",
        help="how the preload is batched: as ingest writes (one record per batch) or in bulk",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write every figure here")
    args = ap.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    if not rows or any(r not in ROWS for r in rows):
        raise SystemExit(f"--rows: choose among {', '.join(ROWS)}")
    if args.rate <= 0 or args.seconds <= 0 or args.connections < 1 or args.preload < 0:
        raise SystemExit("--rate and --seconds must be > 0, --connections >= 1, --preload >= 0")
    find_wrk()
    count = max(2, round(args.rate * args.seconds))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        for row in rows:
            shape = workload.Shape(rate=args.call_rate)
            cbs = workload.callbacks(10**9, shape, seed=args.seed, first=ROW_FIRST_CALL[row])
            timed = workload.replay(cbs, args.skip, count, args.seconds)
            if row == "adjacent":
                timed = workload.regrouped(timed)
            r = run_row(row, timed, args, Path(tmp))
            r["model_speedup"] = round(workload.speedup(timed), 2)
            results.append(r)
            note(
                f"{row}: row visible p50 {r['row_p50_ms']} ms p99 {r['row_p99_ms']} ms, "
                f"wrk CPU {r['wrk_cpu_percent']} %, load {os.getloadavg()[0]:.2f}"
            )
    table = [
        [
            "row",
            "callbacks (non-2xx)",
            "distinct calls per 2,000",
            "POST → 204 p50 / p99",
            "send late p99 / max",
            "**POST → row visible p50 / p99 / max**",
            "not visible",
            "wrk CPU",
        ]
    ]
    for r in results:
        table.append(
            [
                r["label"],
                f"{r['callbacks_sent']:,} ({r['non_2xx']:.0f})",
                f"{r['distinct_calls_per_2000']:,.0f}",
                f"{r['ingest_p50_ms']} / {r['ingest_p99_ms']} ms",
                f"{r['send_late_p99_ms']} / {r['send_late_max_ms']} ms",
                f"**{r['row_p50_ms']} / {r['row_p99_ms']}** / {r['row_max_ms']} ms",
                r["not_visible"],
                f"{r['wrk_cpu_percent']} %",
            ]
        )
    print(
        f"\n{args.rate:g} callbacks/s for {args.seconds:g} s per row, wrk -t1 "
        f"-c{args.connections}, preload {args.preload:,} records ({args.preload_batches} "
        f"batches); load {os.getloadavg()}\n"
    )
    print(markdown(table))
    for r in results:
        print(f"\n{r['label']}, per window:\n")
        print(
            markdown(
                [["from", "row p50", "row p99", "row max", "broker CPU"]]
                + [
                    [
                        f"{w['from_s']} s",
                        f"{w['row_p50_ms']} ms",
                        f"{w['row_p99_ms']} ms",
                        f"{w['row_max_ms']} ms",
                        f"{w['broker_cpu_percent']} %",
                    ]
                    for w in r["row_by_window"]
                ]
            )
        )
    if args.json:
        out = {"args": vars(args) | {"json": str(args.json)}, "rows": results}
        out["cpus"], out["loadavg_at_end"] = os.cpu_count(), os.getloadavg()
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
