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
) -> dict[str, float]:
    from callstream import kafka_clients
    from callstream.settings import Settings

    prefix = f"w{uuid.uuid4().hex[:8]}."
    kafka_clients.ensure_topics(
        Settings.from_env(
            env={}, kafka_bootstrap_servers=bootstrap, kafka_profile="tansu", topic_prefix=prefix
        )
    )
    server = Server(variant, bootstrap, prefix, str(tmp / f"spool-{prefix}db"))
    try:
        if pinned:
            pin(server.proc.pid, "1")
        else:
            pin(server.proc.pid, "0-1")
        wrk_cpus = "0" if pinned else None
        wrk_run(wrk, server.url, script, data, 2, args.connections, wrk_cpus)  # warm-up
        s0, b0 = server.cpu_s(), cpu_seconds(broker_pid)
        r = wrk_run(wrk, server.url, script, data, args.duration, args.connections, wrk_cpus)
        r["server_cpu_share"] = (server.cpu_s() - s0) / r["wall_s"]
        r["broker_cpu_share"] = (cpu_seconds(broker_pid) - b0) / r["wall_s"]
    finally:
        server.stop()
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds measured per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--requests", type=int, default=60_000, help="distinct signed callbacks")
    ap.add_argument("--rate", type=float, default=30.0, help="call arrivals/s in the model")
    ap.add_argument("--pin", choices=("on", "off", "both"), default="on")
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
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    assert broker.proc is not None
    runs: list[dict[str, Any]] = []
    try:
        for rep in range(args.reps):
            for pinned in modes:
                pin(broker.proc.pid, "0" if pinned else "0-1")
                row: dict[str, Any] = {"rep": rep + 1, "pinned": pinned}
                for variant in VARIANTS:
                    r = measure(
                        variant, pinned, args, wrk, script, data, broker.proc.pid, bootstrap, tmp
                    )
                    r["loadavg_1m_after"] = os.getloadavg()[0]
                    row[variant] = r
                    print(
                        f"rep {rep + 1} {'pinned' if pinned else 'unpinned'} {variant:6s} "
                        f"{r['rps']:7.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
                        f"CPU: wrk {r['wrk_cpu_share']:.0%} server {r['server_cpu_share']:.0%} "
                        f"broker {r['broker_cpu_share']:.0%}  non-2xx {r['non2xx']:.0f}  "
                        f"load {r['loadavg_1m_after']:.2f}",
                        flush=True,
                    )
                row["ingest/bare"] = row["ingest"]["rps"] / row["bare"]["rps"]
                row["ingest/naive"] = row["ingest"]["rps"] / row["naive"]["rps"]
                runs.append(row)
        summary: dict[str, Any] = {}
        for pinned in modes:
            rows = [r for r in runs if r["pinned"] == pinned]
            med = {
                v: {k: round(statistics.median(r[v][k] for r in rows), 3) for k in KEYS}
                for v in VARIANTS
            }
            summary["pinned" if pinned else "unpinned"] = {
                "median": med,
                "ingest/bare per rep": [round(r["ingest/bare"], 3) for r in rows],
                "ingest/bare median": round(statistics.median(r["ingest/bare"] for r in rows), 3),
                "ingest/naive median": round(statistics.median(r["ingest/naive"] for r in rows), 2),
            }
        out = {
            "requests": args.requests,
            "calls": calls,
            "mean_body_bytes": size,
            "distinct_calls_per_2000": round(per_poll, 1),
            "wrk": f"-t1 -c{args.connections} -d{args.duration}s",
            "cpus": os.cpu_count(),
            "summary": summary,
            "runs": runs,
            "loadavg_at_end": os.getloadavg(),
        }
        print(json.dumps(summary, indent=2))
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
    finally:
        broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
