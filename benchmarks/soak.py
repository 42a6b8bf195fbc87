"""Soak: the whole pipeline under the workload model's traffic, then as fast as ingest answers.

    .venv/bin/python benchmarks/soak.py --minutes 10 --rate 200 --burst-seconds 60

Runs the real processes (``callstream broker``, ``emulator``, ``projector``, ``ingest``,
``dialer``) on loopback.

Phase 1: the workload model's callbacks (``benchmarks/workload.py``: calls overlapping in
time, from ``--skip`` simulated seconds on, in delivery order, at the model's relative
times sped up to average ``--rate`` per second) for ``--minutes``, sent by ``wrk`` paced
by a Lua script (``loadgen.PACED_LUA``; its own CPU and how late it sent are reported),
while one dial request goes through ``POST /dial`` every two seconds so the dialer, the
emulator and its callbacks run too. Every 6 s it samples each process's RSS (with
children) and the projector's lag. End to end, for every callback's first delivery: from
its scheduled send to its event row being visible in SQLite, overall and per minute, with
the broker's CPU per minute.

Phase 2: ``wrk -c32``, as fast as ingest answers, other calls of the model, for
``--burst-seconds``; the sustained rate, the projector's lag and how long it took to catch
up. Needs ``wrk`` (``apt-get install wrk``). Takes as long as you ask. Progress on
stderr; tables on stdout; ``--json FILE`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import workload
from benchmarks.e2e import Watcher, note, per_window
from benchmarks.ingest_wrk import find_wrk
from benchmarks.loadgen import Paced, Wrk, tree_rss_mib, write_signed
from benchmarks.table import markdown, ms
from tests.helpers import AUTH_TOKEN
from tests.support.pipeline import Pipeline

BURST_FIRST_CALL = 10**9  # phase 2's calls: a CallSid range of their own


def lag(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("callstream_projector_total_lag_records "):
            return float(line.split()[1])
    return float("nan")


class Side(threading.Thread):
    """One POST /dial every 2 s; every 6 s (every third dial) the processes' RSS and the
    projector's lag."""

    def __init__(self, pipe: Pipeline) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.pids = {n: p.proc.pid for n, p in pipe.procs.items() if p.proc is not None}
        self.samples: list[dict[str, Any]] = []
        self.dials: dict[int, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        k = 0
        with httpx.Client(timeout=10) as http:
            while not self.halt.is_set():
                body = {
                    "to": "+14155550100",
                    "from": "+15005550006",
                    "id": f"soak-{k}",
                    "twiml": "<Response><Say>soak</Say></Response>",
                }
                r = http.post(self.pipe["ingest"].url + "/dial", json=body)
                self.dials[r.status_code] = self.dials.get(r.status_code, 0) + 1
                if k % 3 == 0:
                    self.samples.append(
                        {
                            "t": round(time.monotonic() - t0, 1),
                            "lag": lag(self.pipe["projector"].url),
                            "rss": {n: round(tree_rss_mib(p), 1) for n, p in self.pids.items()},
                        }
                    )
                k += 1
                self.halt.wait(2)


def phase1(pipe: Pipeline, args: Any, work: Path) -> dict[str, Any]:
    count = max(2, round(args.rate * args.minutes * 60))
    cbs = workload.callbacks(10**9, workload.Shape(rate=args.call_rate), seed=args.seed)
    timed = workload.replay(cbs, args.skip, count, args.minutes * 60)
    reqs = work / "phase1.tsv"
    write_signed(
        ((t.due, t.cb.params) for t in timed), reqs, pipe.env["CALLSTREAM_PUBLIC_URL"], AUTH_TOKEN
    )
    due = workload.first_sends(timed)
    broker = pipe["broker"].proc
    assert broker is not None
    side = Side(pipe)
    rss_start = {n: round(tree_rss_mib(p), 1) for n, p in side.pids.items()}
    watcher = Watcher(pipe.env["CALLSTREAM_DB"], set(due), broker.pid)
    seconds = timed[-1].due + 1
    note(f"phase 1: {len(timed):,} callbacks over {seconds:.0f} s (wrk, paced)")
    gen = Paced(pipe["ingest"].url, reqs, seconds + 2.5, args.connections, work, lead=2.0)
    side.start()
    watcher.start()
    res = gen.wait()
    end = time.monotonic()
    while watcher.is_alive() and time.monotonic() - end < 60:
        watcher.join(0.2)
    watcher.halt.set()
    watcher.join()
    while lag(pipe["projector"].url) > 0 and time.monotonic() - end < 120:
        time.sleep(0.2)
    side.halt.set()
    side.join()
    lat = [watcher.seen[k] - (gen.start_at + d) for k, d in due.items() if k in watcher.seen]
    sids = [t.cb.call_sid for t in timed]
    samples = side.samples or [{"lag": float("nan"), "rss": rss_start}]
    return {
        "callbacks_scheduled": len(timed),
        "callbacks_sent": len(res.late_s),
        "seconds": round(res.wall_s, 1),
        "model_speedup": round(workload.speedup(timed), 2),
        "distinct_calls_in_run": len(set(sids)),
        "distinct_calls_per_2000": round(workload.distinct_calls_per_poll(sids, 2000), 1),
        "non_2xx": res.report["non2xx"],
        "socket_errors": res.report["socket_errors"],
        "dial_answers": side.dials,
        "ingest_p50_ms": round(res.report["p50"], 1),
        "ingest_p99_ms": round(res.report["p99"], 1),
        "send_late_p99_ms": ms(res.late_s, 99),
        "send_late_max_ms": ms(res.late_s, 100),
        "wrk_cpu_percent": round(100 * res.cpu_share, 1),
        "event_rows_expected": len(due),
        "not_visible": len(due) - len(lat),
        "e2e_p50_ms": ms(lat, 50),
        "e2e_p99_ms": ms(lat, 99),
        "e2e_max_ms": ms(lat, 100),
        "e2e_by_minute": per_window(due, watcher.seen, watcher.cpu, gen.start_at, 60.0),
        "lag_max": max(s["lag"] for s in samples),
        "rss_start_mib": rss_start,
        "rss_end_mib": samples[-1]["rss"],
        "rss_max_mib": {n: max(s["rss"][n] for s in samples) for n in side.pids},
    }


def phase2(pipe: Pipeline, args: Any, work: Path) -> dict[str, Any]:
    from benchmarks.ingest import WRK_LUA

    cbs = workload.callbacks(10**9, workload.Shape(rate=args.call_rate), first=BURST_FIRST_CALL)
    timed = workload.replay(cbs, args.skip, 60_000, 1.0)
    reqs = work / "phase2.tsv"
    write_signed(
        ((None, t.cb.params) for t in timed), reqs, pipe.env["CALLSTREAM_PUBLIC_URL"], AUTH_TOKEN
    )
    lags: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            lags.append(lag(pipe["projector"].url))
            done.wait(2)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    note(f"phase 2: wrk -c32 as fast as ingest answers for {args.burst_seconds:g} s")
    res = Wrk(pipe["ingest"].url, WRK_LUA, [str(reqs)], args.burst_seconds, 32, work).wait()
    done.set()
    w.join()
    t1 = time.monotonic()
    while lag(pipe["projector"].url) > 0 and time.monotonic() - t1 < 300:
        time.sleep(0.2)
    return {
        "connections": 32,
        "seconds": round(res.wall_s, 1),
        "rate": round(res.report["rps"], 1),
        "non_2xx": res.report["non2xx"],
        "socket_errors": res.report["socket_errors"],
        "p50_ms": round(res.report["p50"], 1),
        "p99_ms": round(res.report["p99"], 1),
        "wrk_cpu_percent": round(100 * res.cpu_share, 1),
        "projector_lag_max": max(lags) if lags else None,
        "projector_caught_up_after_s": round(time.monotonic() - t1, 1),
    }


def report(res: dict[str, Any]) -> None:
    p1, p2 = res["phase1"], res["phase2"]
    rows = [
        ["phase 1", "figure"],
        [
            "callbacks sent (non-2xx, socket errors)",
            f"{p1['callbacks_sent']:,} ({p1['non_2xx']:.0f}, {p1['socket_errors']:.0f})",
        ],
        [
            "distinct calls in the run / per 2,000 callbacks",
            f"{p1['distinct_calls_in_run']:,} / {p1['distinct_calls_per_2000']:,.0f}",
        ],
        [
            "POST → 204 p50 / p99 (wrk, from the send)",
            f"{p1['ingest_p50_ms']} / {p1['ingest_p99_ms']} ms",
        ],
        [
            "send late p99 / max; wrk CPU",
            f"{p1['send_late_p99_ms']} / {p1['send_late_max_ms']} ms; {p1['wrk_cpu_percent']} %",
        ],
        [
            "**scheduled send → row visible p50 / p99 / max**",
            f"**{p1['e2e_p50_ms']} / {p1['e2e_p99_ms']}** / {p1['e2e_max_ms']} ms",
        ],
        ["event rows not visible", p1["not_visible"]],
        ["projector lag, max", p1["lag_max"]],
        ["POST /dial answers", p1["dial_answers"]],
    ]
    for n in p1["rss_start_mib"]:
        rows.append(
            [
                f"RSS start → end (max): {n}",
                f"{p1['rss_start_mib'][n]} → {p1['rss_end_mib'].get(n)} "
                f"({p1['rss_max_mib'].get(n)}) MiB",
            ]
        )
    print(markdown(rows))
    print()
    print(
        markdown(
            [["minute", "row p50", "row p99", "row max", "broker CPU"]]
            + [
                [
                    w["from_s"] // 60 + 1,
                    f"{w['row_p50_ms']} ms",
                    f"{w['row_p99_ms']} ms",
                    f"{w['row_max_ms']} ms",
                    f"{w['broker_cpu_percent']} %",
                ]
                for w in p1["e2e_by_minute"]
            ]
        )
    )
    print()
    print(
        markdown(
            [
                ["phase 2 (wrk -c32, closed loop)", "figure"],
                ["sustained rate (non-2xx)", f"{p2['rate']:,} callbacks/s ({p2['non_2xx']:.0f})"],
                ["latency p50 / p99", f"{p2['p50_ms']} / {p2['p99_ms']} ms"],
                ["wrk CPU", f"{p2['wrk_cpu_percent']} %"],
                [
                    "projector lag max; caught up after",
                    f"{p2['projector_lag_max']}; {p2['projector_caught_up_after_s']} s",
                ],
            ]
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10, help="length of phase 1")
    ap.add_argument("--rate", type=float, default=200, help="callbacks/s in phase 1 (average)")
    ap.add_argument("--burst-seconds", type=float, default=60, help="length of phase 2")
    ap.add_argument("--call-rate", type=float, default=30, help="call arrivals/s in the model")
    ap.add_argument("--skip", type=float, default=600, help="simulated seconds skipped first")
    ap.add_argument("--connections", type=int, default=32, help="wrk's connections in phase 1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write every figure here")
    args = ap.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or args.burst_seconds < 1 or args.connections < 1:
        raise SystemExit("--minutes and --rate must be > 0, --burst-seconds and --connections >= 1")
    find_wrk()
    with (
        tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp,
        Pipeline(Path(tmp), CALLSTREAM_CPS="1") as pipe,
    ):
        pipe.start("broker", "emulator", "projector", "ingest", "dialer")
        res: dict[str, Any] = {"phase1": phase1(pipe, args, Path(tmp))}
        note(json.dumps({k: v for k, v in res["phase1"].items() if k != "e2e_by_minute"}))
        res["phase2"] = phase2(pipe, args, Path(tmp))
        note(json.dumps(res["phase2"]))
        res["processes_dead_at_end"] = [n for n, p in pipe.procs.items() if not p.alive()]
    res["loadavg_at_end"] = os.getloadavg()
    print(
        f"\nsoak: {args.minutes:g} min at {args.rate:g} callbacks/s, then "
        f"{args.burst_seconds:g} s closed loop; processes dead at the end: "
        f"{res['processes_dead_at_end'] or 'none'}; load {os.getloadavg()}\n"
    )
    report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
