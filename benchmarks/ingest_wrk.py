"""Ingest under wrk: three servers, one C load generator, callbacks from the workload model.

    .venv/bin/python benchmarks/ingest_wrk.py --reps 3 --duration 10

Servers, each uvicorn (uvloop + httptools) in a process of its own (``benchmarks/ingest.py
serve``), against one embedded broker:

(a) ``bare``: Starlette, ``await request.form()``, 204 (no signature, no Kafka);
(b) ``naive``: ``request.form()``, ``RequestValidator.validate``, ``producer.send().get()``;
(c) ``ingest``: callstream's ingest (``ingest.bootstrap.create_app``), everything included.

Load: ``wrk`` (Debian package ``wrk``: ``apt-get install wrk``; the script says so when it
is missing), one thread, ``--connections`` connections, replaying through a Lua script the
same pre-signed callbacks for all three servers, rotating: the workload model's callbacks
(``benchmarks/workload.py``, with the geographic parameters) in delivery order, so the
CallSids interleave as in real traffic. Each run: a 2 s warm-up, then ``--duration``
seconds measured. Reported per run: req/s, p50/p99, the CPU of wrk itself (its rusage),
of the server process (all threads, ``/proc/<pid>/stat``) and of the broker, each as a
share of one core over the run.

Pinning (``--pin on``, the default): wrk and the broker on core 0, the server on core 1
(``taskset``), so the server under test has a core that the load generator does not take;
``--pin off`` leaves placement to the scheduler; ``--pin both`` runs each repetition both
ways. The variants run in turn within each repetition; ratios are per repetition, then
the median.
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
from urllib.parse import quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import workload
from benchmarks.ingest import (
    AUTH_TOKEN,
    PATH,
    PUBLIC,
    WRK_LUA,
    Server,
    cpu_seconds,
    parse_wrk,
)

VARIANTS = ("bare", "naive", "ingest")
KEYS = ("rps", "p50", "p99", "wrk_cpu_share", "server_cpu_share", "broker_cpu_share", "non2xx")


def find_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit(
            "wrk is needed and was not found: apt-get install wrk (Debian/Ubuntu) "
            "or brew install wrk (macOS)"
        )
    return path


def signed_requests(n: int, path: Path, rate: float, seed: int = 1) -> tuple[int, int]:
    """Write the first ``n`` callbacks of the workload model as ``signature<TAB>body``
    lines; return (mean body bytes, distinct CallSids)."""
    from twilio.request_validator import RequestValidator

    from ingest.signature import MultiParams

    validator = RequestValidator(AUTH_TOKEN)
    url = PUBLIC + PATH
    sizes: list[int] = []
    sids: set[str] = set()
    shape = workload.Shape(rate=rate, geo=True)
    with open(path, "w") as f:
        for cb in workload.callbacks(n, shape, seed=seed):
            pairs = [(k, v) for k, v in cb.params]
            body = "&".join(quote_plus(k) + "=" + quote_plus(v) for k, v in pairs)
            sig = validator.compute_signature(url, MultiParams.from_pairs(pairs))
            f.write(f"{sig}\t{body}\n")
            sizes.append(len(body))
            sids.add(cb.call_sid)
            if len(sizes) == n:
                break
    return round(statistics.mean(sizes)), len(sids)


def pin(pid: int, cpus: str) -> None:
    """Every thread of ``pid`` onto ``cpus`` (threads started later inherit it)."""
    subprocess.run(["taskset", "-a", "-cp", cpus, str(pid)], check=True, capture_output=True)


def wrk_run(
    wrk: str, url: str, script: Path, data: Path, seconds: int, conns: int, cpus: str | None
) -> dict[str, float]:
    """One wrk run; its own CPU from its rusage (user + system, wrk's threads included)."""
    cmd = [wrk, "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    cmd += ["--", str(data)]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]  # taskset execs wrk: the same process
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        t0 = time.perf_counter()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}): {text.strip()}")
    r = parse_wrk(text)
    r["wrk_cpu_share"] = (ru.ru_utime + ru.ru_stime) / wall
    r["wall_s"] = wall
    return r


def measure(
    variant: str,
    pinned: bool,
    args: Any,
    wrk: str,
    script: Path,
    data: Path,
    broker_pid: int,
    bootstrap: str,
    tmp: Path,
    workers: int = 0,
) -> dict[str, float]:
    from callstream import kafka_clients
    from callstream.settings import Settings

    prefix = f"w{uuid.uuid4().hex[:8]}."
    kafka_clients.ensure_topics(
        Settings.from_env(
            env={}, kafka_bootstrap_servers=bootstrap, kafka_profile="tansu", topic_prefix=prefix
        )
    )
    server = Server(variant, bootstrap, prefix, str(tmp / f"spool-{prefix}db"), workers)
    try:
        for pid in server.pids():  # the server and its workers
            pin(pid, "1" if pinned else "0-1")
        wrk_cpus = "0" if pinned else None
        wrk_run(wrk, server.url, script, data, 2, args.connections, wrk_cpus)  # warm-up
        s0, b0 = server.cpu_s(), cpu_seconds(broker_pid)
        r = wrk_run(wrk, server.url, script, data, args.duration, args.connections, wrk_cpus)
        r["server_cpu_share"] = (server.cpu_s() - s0) / r["wall_s"]
        r["broker_cpu_share"] = (cpu_seconds(broker_pid) - b0) / r["wall_s"]
    finally:
        server.stop()
    return r


def mode(pinned: bool) -> str:
    return "pinned" if pinned else "unpinned"


def parse_workers(raw: str) -> list[int]:
    try:
        counts = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"--workers: {raw!r} is not a list of numbers like 1,2") from None
    if any(not 1 <= n <= 16 for n in counts):
        raise SystemExit("--workers: each number must be between 1 and 16")
    return counts


def report(label: str, r: dict[str, float]) -> dict[str, float]:
    r["loadavg_1m_after"] = os.getloadavg()[0]
    print(
        f"{label} {r['rps']:7.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
        f"CPU: wrk {r['wrk_cpu_share']:.0%} server {r['server_cpu_share']:.0%} "
        f"broker {r['broker_cpu_share']:.0%}  non-2xx {r['non2xx']:.0f}  "
        f"load {r['loadavg_1m_after']:.2f}",
        flush=True,
    )
    return r


def medians(rows: list[dict[str, Any]], variants: tuple[str, ...]) -> dict[str, Any]:
    return {
        "median": {
            v: {k: round(statistics.median(r[v][k] for r in rows), 3) for k in KEYS}
            for v in variants
        },
        "ingest/bare per rep": [round(r["ingest/bare"], 3) for r in rows],
        "ingest/bare median": round(statistics.median(r["ingest/bare"] for r in rows), 3),
    }


def _cpu_us(r: dict[str, float]) -> str:
    """Server CPU per request, in microseconds (all its processes and threads)."""
    return f"{r['server_cpu_share'] / r['rps'] * 1e6:,.0f}" if r["rps"] else "-"


def tables(runs: list[dict[str, Any]], wruns: list[dict[str, Any]], started: str) -> str:
    """Markdown tables of every run, to paste into docs/benchmarks.md."""
    out = [f"\nStarted {started}; load average at the end {os.getloadavg()}.\n"]
    if runs:
        out += [
            "| rep | mode | (a) bare | (b) naive | (c) ingest | (c)/(a) | (c)/(b) "
            "| server CPU per request a / b / c | wrk CPU a / b / c |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in runs:
            a, b, c = r["bare"], r["naive"], r["ingest"]
            out.append(
                f"| {r['rep']} | {mode(r['pinned'])} | {a['rps']:,.0f}/s | {b['rps']:,.0f}/s "
                f"| {c['rps']:,.0f}/s | {r['ingest/bare']:.2f} | {r['ingest/naive']:.1f}x "
                f"| {_cpu_us(a)} / {_cpu_us(b)} / {_cpu_us(c)} µs "
                f"| {a['wrk_cpu_share']:.0%} / {b['wrk_cpu_share']:.0%} "
                f"/ {c['wrk_cpu_share']:.0%} |"
            )
        out.append("")
    if wruns:
        out += [
            "| rep | workers | bare (N uvicorn workers) | ingest --workers N | ingest/bare "
            "| p99 bare / ingest | server CPU per request bare / ingest | wrk CPU |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in wruns:
            a, c = r["bare"], r["ingest"]
            out.append(
                f"| {r['rep']} | {r['workers']} | {a['rps']:,.0f}/s | {c['rps']:,.0f}/s "
                f"| {r['ingest/bare']:.2f} | {a['p99']:.1f} / {c['p99']:.1f} ms "
                f"| {_cpu_us(a)} / {_cpu_us(c)} µs "
                f"| {a['wrk_cpu_share']:.0%} / {c['wrk_cpu_share']:.0%} |"
            )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds measured per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--requests", type=int, default=60_000, help="distinct signed callbacks")
    ap.add_argument("--rate", type=float, default=30.0, help="call arrivals/s in the model")
    ap.add_argument("--pin", choices=("on", "off", "both"), default="on")
    ap.add_argument(
        "--workers",
        default="",
        help="also compare bare and ingest with these numbers of worker processes, "
        "e.g. 1,2 (unpinned: the workers share both cores)",
    )
    ap.add_argument("--skip-single", action="store_true", help="only the --workers comparison")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if (os.cpu_count() or 1) < 2 and args.pin != "off":
        raise SystemExit("--pin needs two cores; use --pin off")

    from callstream.broker import EmbeddedBroker

    wrk = find_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-wrk-"))
    data, script = tmp / "requests.tsv", tmp / "replay.lua"
    script.write_text(WRK_LUA)
    size, calls = signed_requests(args.requests, data, args.rate)
    sids = [line.split("CallSid=", 1)[1].split("&", 1)[0] for line in data.open()]
    per_poll = workload.distinct_calls_per_poll(sids, 2000)
    print(
        f"{args.requests:,} signed callbacks of {calls:,} calls from the workload model, "
        f"mean body {size} bytes, {per_poll:.0f} distinct calls per 2,000 consecutive; "
        f"wrk -t1 -c{args.connections} -d{args.duration}s; load {os.getloadavg()}",
        flush=True,
    )
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.pin]
    worker_counts = parse_workers(args.workers)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    assert broker.proc is not None
    runs: list[dict[str, Any]] = []
    wruns: list[dict[str, Any]] = []
    try:
        for rep in range(args.reps):
            for pinned in modes if not args.skip_single else []:
                pin(broker.proc.pid, "0" if pinned else "0-1")
                row: dict[str, Any] = {"rep": rep + 1, "pinned": pinned}
                for variant in VARIANTS:
                    r = measure(
                        variant, pinned, args, wrk, script, data, broker.proc.pid, bootstrap, tmp
                    )
                    row[variant] = report(f"rep {rep + 1} {mode(pinned)} {variant:6s}", r)
                row["ingest/bare"] = row["ingest"]["rps"] / row["bare"]["rps"]
                row["ingest/naive"] = row["ingest"]["rps"] / row["naive"]["rps"]
                runs.append(row)
            pin(broker.proc.pid, "0-1")
            for n in worker_counts:
                row = {"rep": rep + 1, "workers": n}
                for variant in ("bare", "ingest"):
                    r = measure(
                        variant, False, args, wrk, script, data, broker.proc.pid, bootstrap, tmp, n
                    )
                    row[variant] = report(f"rep {rep + 1} {n} worker(s) {variant:6s}", r)
                row["ingest/bare"] = row["ingest"]["rps"] / row["bare"]["rps"]
                wruns.append(row)
        summary: dict[str, Any] = {}
        for pinned in modes if runs else []:
            rows = [r for r in runs if r["pinned"] == pinned]
            summary[mode(pinned)] = medians(rows, VARIANTS) | {
                "ingest/naive median": round(statistics.median(r["ingest/naive"] for r in rows), 2)
            }
        for n in worker_counts:
            summary[f"{n} worker(s)"] = medians(
                [r for r in wruns if r["workers"] == n], VARIANTS[::2]
            )
        out = {
            "requests": args.requests,
            "calls": calls,
            "mean_body_bytes": size,
            "distinct_calls_per_2000": round(per_poll, 1),
            "wrk": f"-t1 -c{args.connections} -d{args.duration}s",
            "cpus": os.cpu_count(),
            "summary": summary,
            "runs": runs,
            "worker_runs": wruns,
            "loadavg_at_end": os.getloadavg(),
        }
        print(json.dumps(summary, indent=2))
        print(tables(runs, wruns, started))
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
    finally:
        broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
