"""``callstream rebuild`` against the reference writer, on the workload model's log.

    .venv/bin/python benchmarks/rebuild.py --calls 25000 --rounds 3

The log: ``--calls`` calls of the workload model (``benchmarks/workload.py``) at ``--rate``
calls/s, their callbacks as compact envelopes (as ingest writes them). Two shapes of the
same records, each on topics of its own, each a labelled row: ``interleaved`` (delivery
order: thousands of calls in flight, a poll touches many of them) and ``adjacent`` (grouped
call by call: the older benchmarks' shape, kept as a second row).

Per round and shape, in turn, so that each ratio compares runs under the same load:

(a) the reference writer of ``benchmarks/projector.py`` (kafka-python, ``json.loads``,
    ``executemany`` upserts, one transaction per poll), in this process;
(c) ``callstream rebuild --db NEW`` as a user runs it (a process of its own): wall time
    from its start to its exit, and its CPU (its rusage).
(0) once, ``callstream rebuild`` of an empty topic: the fixed cost (interpreter start,
    imports, broker metadata, schema) that (c) pays once whatever the log's length.

Reported: records/s of each, (c)/(a) per round and the median, (c) with the fixed cost
taken off, and the distinct calls an average poll touches (in log order, and as the
reference writer polled). Uses the embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set.
Progress on stderr; a table on stdout; ``--json FILE`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import workload
from benchmarks.projector import POLL, log_of, produce, reference_writer
from benchmarks.table import markdown
from callstream import kafka_clients
from callstream.broker import EmbeddedBroker
from callstream.reach import unreachable
from callstream.settings import Settings

SHAPES = ("interleaved", "adjacent")
LABELS = {
    "interleaved": "interleaved (workload model, delivery order)",
    "adjacent": "adjacent (grouped call by call: the older shape)",
}


def run_rebuild(bootstrap: str, prefix: str, db: Path) -> dict[str, Any]:
    """``callstream rebuild --db db`` as a process of its own: wall time, its CPU, rows."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CALLSTREAM_TOPIC_PREFIX": prefix,
    }
    cmd = [sys.executable, "-m", "callstream", "rebuild", "--db", str(db)]
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"callstream rebuild failed: {text.strip()}")
    rows = {}
    for line in text.splitlines():
        table, sep, n = line.partition("\t")
        if sep:
            rows[table] = int(n.split()[0])
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--calls", type=int, default=25_000, help="calls (about 4.35 callbacks each)")
    ap.add_argument("--rate", type=float, default=30.0, help="call arrivals/s in the model")
    ap.add_argument("--rounds", type=int, default=3, help="(a), (c) rounds on each shape")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    args = ap.parse_args()
    if args.calls < 1 or args.rounds < 1:
        raise SystemExit("--calls and --rounds must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    try:
        if not bootstrap:
            broker = EmbeddedBroker()
            bootstrap = broker.start()
        elif why := unreachable(bootstrap):
            raise SystemExit(f"cannot reach Kafka at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS): {why}")
        run = uuid.uuid4().hex[:6]
        prefixes = {shape: f"bench{run}{shape[:3]}." for shape in (*SHAPES, "empty")}
        settings = {
            shape: Settings.from_env(env={}, kafka_bootstrap_servers=bootstrap, topic_prefix=p)
            for shape, p in prefixes.items()
        }
        profile = kafka_clients.detect_profile(settings["empty"])
        for s in settings.values():
            kafka_clients.ensure_topics(s)
        cbs = list(workload.callbacks(args.calls, workload.Shape(rate=args.rate)))
        total = len(cbs)
        model: dict[str, Any] = {}
        for shape in SHAPES:
            recs = log_of(cbs, shape)
            model[shape] = {
                "distinct_calls_per_2000_in_log_order": round(
                    workload.distinct_calls_per_poll([k.decode() for k, _ in recs], POLL), 1
                ),
                "mean_record_bytes": round(statistics.mean(len(v) for _, v in recs)),
            }
            print(f"{shape}: producing {total:,} records of {args.calls:,} calls", file=sys.stderr)
            produce(settings[shape], recs)
        del cbs
        print("(0) callstream rebuild of an empty topic (fixed cost)", file=sys.stderr)
        fixed = run_rebuild(bootstrap, prefixes["empty"], work / "empty.db")
        rounds: dict[str, list[dict[str, Any]]] = {shape: [] for shape in SHAPES}
        for r in range(args.rounds):
            for shape in SHAPES:
                ref, per_poll = reference_writer(
                    settings[shape], profile, total, work / f"ref{r}{shape}.db"
                )
                c = run_rebuild(bootstrap, prefixes[shape], work / f"rebuild{r}{shape}.db")
                if c["rows"].get("call_events", 0) == 0:
                    raise SystemExit(f"callstream rebuild wrote no events: {c['rows']}")
                row = {
                    "a_reference_rate": round(ref),
                    "distinct_calls_per_poll_as_polled": round(per_poll, 1),
                    "c_wall_s": round(c["wall_s"], 2),
                    "c_cpu_s": round(c["cpu_s"], 2),
                    "c_rate": round(total / c["wall_s"]),
                    "c_rate_without_fixed_cost": round(
                        total / max(1e-3, c["wall_s"] - fixed["wall_s"])
                    ),
                    "c_rows": c["rows"],
                }
                row["c_vs_a"] = round(row["c_rate"] / ref, 3)
                row["c_without_fixed_vs_a"] = round(row["c_rate_without_fixed_cost"] / ref, 3)
                rounds[shape].append(row)
                print(
                    f"round {r + 1} {shape:11s} (a) {ref:7,.0f}/s  (c) rebuild "
                    f"{row['c_rate']:7,}/s in {c['wall_s']:.1f} s (CPU {c['cpu_s']:.1f} s)  "
                    f"(c)/(a) {row['c_vs_a']:.2f}  load {os.getloadavg()[0]:.2f}",
                    file=sys.stderr,
                    flush=True,
                )

        def med(shape: str, key: str) -> float:
            return float(statistics.median(float(x[key]) for x in rounds[shape]))

        table = [
            [
                "shape",
                "distinct calls per poll (log / as polled)",
                "(a) reference",
                "(c) rebuild",
                "(c)/(a) per round",
                "**median (c)/(a)**",
                "without fixed cost",
            ]
        ]
        for shape in SHAPES:
            rs = rounds[shape]
            table.append(
                [
                    LABELS[shape],
                    f"{model[shape]['distinct_calls_per_2000_in_log_order']:,.0f} / "
                    f"{med(shape, 'distinct_calls_per_poll_as_polled'):,.0f}",
                    f"{med(shape, 'a_reference_rate'):,.0f}/s",
                    f"{med(shape, 'c_rate'):,.0f}/s",
                    ", ".join(f"{x['c_vs_a']:.2f}" for x in rs),
                    f"**{med(shape, 'c_vs_a'):.2f}**",
                    f"{med(shape, 'c_without_fixed_vs_a'):.2f}",
                ]
            )
        print(
            f"\n{total:,} records of {args.calls:,} calls; fixed cost of `callstream rebuild` "
            f"(empty topic) {fixed['wall_s']:.2f} s; broker {profile.name}; medians of "
            f"{args.rounds}; load {os.getloadavg()}\n"
        )
        print(markdown(table))
        if args.json:
            out = {
                "records": total,
                "calls": args.calls,
                "call_rate_in_model": args.rate,
                "model": model,
                "broker": profile.name,
                "fixed_cost": fixed,
                "rounds": rounds,
                "cpus": os.cpu_count(),
                "loadavg_at_end": os.getloadavg(),
            }
            args.json.write_text(json.dumps(out, indent=2))
    finally:
        if broker is not None:
            broker.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
