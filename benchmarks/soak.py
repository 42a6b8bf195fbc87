"""Soak: the whole pipeline under steady load, then at the highest rate ingest sustains.

Runs the real processes (``callstream broker``, ``emulator``, ``projector``, ``ingest``,
``dialer``) on loopback. Phase 1 sends Twilio-shaped, signed status callbacks at a fixed
rate (default 200/s, open loop) for ``--minutes`` (4 callbacks per call: initiated,
ringing, in-progress, completed), while dial requests go through ``POST /dial`` every two
seconds so the dialer and the emulator's callbacks run too. Every 5 s it samples each
process's RSS and the projector's lag. For 1 callback in 25 it measures end to end: from
the start of the POST to the event being visible through ``GET /calls/{sid}``.
Phase 2 runs 32 connections as fast as ingest answers for ``--burst-seconds`` and reports
the sustained rate and whether the projector kept up.

    python benchmarks/soak.py --minutes 10 --rate 200

Outside CI: it takes as long as you ask.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import contextlib

from tests.helpers import ACCOUNT_SID, AUTH_TOKEN
from tests.support.pipeline import Pipeline

STAGES = (("initiated", None), ("ringing", None), ("in-progress", None), ("completed", "42"))


def rss_mib(pid: int) -> float:
    """RSS of a process and its children (the broker wrapper runs Tansu as a child)."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += rss_mib(int(child))
    return total


def callback(call: int, seq: int) -> dict[str, str]:
    status, duration = STAGES[seq]
    p = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": f"CA{call:032x}",
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
        "Direction": "outbound-api",
        "From": "+15005550006",
        "To": "+14155551212",
        "Called": "+14155551212",
        "Caller": "+15005550006",
        "ToCity": "SAN FRANCISCO",
        "ToState": "CA",
        "ToZip": "94103",
        "ToCountry": "US",
        "FromCountry": "US",
        "SequenceNumber": str(seq),
        "Timestamp": "Tue, 31 Aug 2010 20:36:28 +0000",
    }
    if duration:
        p["CallDuration"] = duration
        p["Duration"] = "1"
        p["SipResponseCode"] = "200"
    return p


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))] if xs else float("nan")


async def lag(client: httpx.AsyncClient, api: str) -> float:
    text = (await client.get(api + "/metrics")).text
    m = re.search(r"^callstream_projector_lag_records_total (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


async def phase1(pipe: Pipeline, rate: float, seconds: float) -> dict[str, Any]:
    url = pipe.env["CALLSTREAM_PUBLIC_URL"] + "/twilio/status"
    ingest = pipe["ingest"].url
    api = pipe["projector"].url
    val = RequestValidator(AUTH_TOKEN)
    n = int(rate * seconds)
    statuses: dict[int, int] = {}
    e2e: list[float] = []
    samples: list[dict[str, Any]] = []
    pids = {name: p.proc.pid for name, p in pipe.procs.items() if p.proc is not None}
    rss_start = {k: rss_mib(v) for k, v in pids.items()}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def send(i: int) -> None:
            call, seq = divmod(i, 4)
            p = callback(call, seq)
            t0 = time.perf_counter()
            r = await client.post(
                ingest + "/twilio/status",
                data=p,
                headers={"X-Twilio-Signature": val.compute_signature(url, p)},
            )
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if seq == 3 and call % 25 == 0:
                sid = p["CallSid"]
                while True:
                    g = await client.get(f"{api}/calls/{sid}")
                    if g.status_code == 200 and g.json().get("status") == "completed":
                        e2e.append(time.perf_counter() - t0)
                        return
                    if time.perf_counter() - t0 > 30:
                        return
                    await asyncio.sleep(0.002)

        async def dial(k: int) -> None:
            await client.post(
                ingest + "/dial",
                json={
                    "to": "+14155550100",
                    "from": "+15005550006",
                    "id": f"soak-{k}",
                    "twiml": "<Response><Say>soak</Say></Response>",
                },
            )

        async def sampler(stop: asyncio.Event) -> None:
            t0 = time.monotonic()
            while not stop.is_set():
                samples.append(
                    {
                        "t": round(time.monotonic() - t0, 1),
                        "lag": await lag(client, api),
                        "rss": {k: round(rss_mib(v), 1) for k, v in pids.items()},
                    }
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5)

        stop = asyncio.Event()
        samp = asyncio.create_task(sampler(stop))
        tasks: list[asyncio.Task[None]] = []
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i)))
            if i % int(2 * rate) == 0:
                tasks.append(asyncio.create_task(dial(i)))
            if len(tasks) > 4000:
                done = [t for t in tasks if t.done()]
                tasks = [t for t in tasks if not t.done()]
                for t in done:
                    t.result()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        # wait for the projector to drain
        deadline = time.monotonic() + 120
        while await lag(client, api) > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        stop.set()
        await samp
    return {
        "callbacks": n,
        "seconds": round(elapsed, 1),
        "rate": round(n / elapsed, 1),
        "statuses": statuses,
        "e2e_p50_ms": round(pct(e2e, 50) * 1000, 1),
        "e2e_p99_ms": round(pct(e2e, 99) * 1000, 1),
        "e2e_samples": len(e2e),
        "lag_max": max(s["lag"] for s in samples),
        "rss_start_mib": {k: round(v, 1) for k, v in rss_start.items()},
        "rss_end_mib": samples[-1]["rss"],
        "rss_max_mib": {k: max(s["rss"][k] for s in samples) for k in pids},
    }


async def phase2(pipe: Pipeline, seconds: float, conns: int = 32) -> dict[str, Any]:
    url = pipe.env["CALLSTREAM_PUBLIC_URL"] + "/twilio/status"
    ingest = pipe["ingest"].url + "/twilio/status"
    api = pipe["projector"].url
    val = RequestValidator(AUTH_TOKEN)
    statuses: dict[int, int] = {}
    counter = iter(range(10**8, 10**9))
    lags: list[float] = []
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < end:
                call, seq = divmod(next(counter), 4)
                p = callback(call, seq)
                r = await client.post(
                    ingest, data=p, headers={"X-Twilio-Signature": val.compute_signature(url, p)}
                )
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        async def watch() -> None:
            while time.perf_counter() < end:
                lags.append(await lag(client, api))
                await asyncio.sleep(2)

        t0 = time.perf_counter()
        await asyncio.gather(watch(), *(worker() for _ in range(conns)))
        elapsed = time.perf_counter() - t0
        t1 = time.monotonic()
        while await lag(client, api) > 0 and time.monotonic() - t1 < 300:
            await asyncio.sleep(0.2)
        drain_s = time.monotonic() - t1
    total = sum(statuses.values())
    return {
        "connections": conns,
        "seconds": round(elapsed, 1),
        "requests": total,
        "rate": round(total / elapsed, 1),
        "statuses": statuses,
        "projector_lag_max": max(lags) if lags else None,
        "projector_drain_after_s": round(drain_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--burst-seconds", type=float, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Pipeline(Path(tmp), CALLSTREAM_CPS="1") as pipe:
        pipe.start("broker", "emulator", "projector", "ingest", "dialer")
        res = {"phase1": asyncio.run(phase1(pipe, args.rate, args.minutes * 60))}
        print(json.dumps(res["phase1"]), flush=True)
        res["phase2"] = asyncio.run(phase2(pipe, args.burst_seconds))
        print(json.dumps(res["phase2"]), flush=True)
        dead = [n for n, p in pipe.procs.items() if not p.alive()]
        res["processes_dead_at_end"] = dead
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
