"""Soak: the whole pipeline under steady load, then at the highest rate ingest sustains.

Runs the real processes (``callstream broker``, ``emulator``, ``projector``, ``ingest``,
``dialer``) on loopback. Phase 1 sends Twilio-shaped, signed status callbacks at a fixed
rate (default 200/s, open loop, 32 keep-alive connections, see ``loadgen.py``) for
``--minutes`` (4 callbacks per call: initiated, ringing, in-progress, completed), while a
dial request goes through ``POST /dial`` every two seconds so the dialer, the emulator and
its callbacks run too. Every 5 s it samples each process's RSS (with children) and the
projector's lag. For one call in 25 it measures end to end: from the scheduled time of the
``completed`` callback's POST until ``GET /calls/{sid}`` shows the call completed.
Phase 2 drives ingest as fast as it answers with 32 connections for ``--burst-seconds`` and
reports the sustained rate and the projector's lag.

    python benchmarks/soak.py --minutes 10 --rate 200

Outside CI: it takes as long as you ask.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.loadgen import Connection, Response, closed_loop, open_loop, pct, split
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN
from tests.support.pipeline import Pipeline

STAGES = (("initiated", None), ("ringing", None), ("in-progress", None), ("completed", "42"))
FORM = "application/x-www-form-urlencoded"


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
        p.update(CallDuration=duration, Duration="1", SipResponseCode="200")
    return p


class Callbacks:
    def __init__(self, public_url: str, first_call: int = 0) -> None:
        self.url = public_url + "/twilio/status"
        self.val = RequestValidator(AUTH_TOKEN)
        self.first_call = first_call

    def __call__(self, i: int) -> tuple[str, str, bytes, dict[str, str]]:
        call, seq = divmod(i, 4)
        p = callback(self.first_call + call, seq)
        sig = self.val.compute_signature(self.url, p)
        return (
            "POST",
            "/twilio/status",
            urlencode(p).encode(),
            {"Content-Type": FORM, "X-Twilio-Signature": sig},
        )


async def lag(conn: Connection) -> float:
    text = (await conn.request("GET", "/metrics")).body.decode()
    m = re.search(r"^callstream_projector_total_lag_records (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


async def phase1(pipe: Pipeline, rate: float, seconds: float) -> dict[str, Any]:
    n = int(rate * seconds) // 4 * 4
    e2e: list[float] = []
    samples: list[dict[str, Any]] = []
    pids = {name: p.proc.pid for name, p in pipe.procs.items() if p.proc is not None}
    rss_start = {k: rss_mib(v) for k, v in pids.items()}
    api_host, api_port = split(pipe["projector"].url)
    ing_host, ing_port = split(pipe["ingest"].url)
    pollers: set[asyncio.Task[None]] = set()

    async def poll(sid: str, due: float) -> None:
        conn = Connection(api_host, api_port)
        try:
            while time.perf_counter() - due < 30:
                r = await conn.request("GET", f"/calls/{sid}")
                if r.status == 200 and b'"status":"completed"' in r.body.replace(b" ", b""):
                    e2e.append(time.perf_counter() - due)
                    return
                await asyncio.sleep(0.002)
        finally:
            await conn.close()

    async def after(i: int, resp: Response, due: float) -> None:
        call, seq = divmod(i, 4)
        if seq == 3 and call % 25 == 0 and resp.status == 204:
            t = asyncio.create_task(poll(f"CA{call:032x}", due))
            pollers.add(t)
            t.add_done_callback(pollers.discard)

    async def dialer_load(stop: asyncio.Event) -> None:
        conn = Connection(ing_host, ing_port)
        k = 0
        while not stop.is_set():
            body = json.dumps(
                {
                    "to": "+14155550100",
                    "from": "+15005550006",
                    "id": f"soak-{k}",
                    "twiml": "<Response><Say>soak</Say></Response>",
                }
            ).encode()
            await conn.request("POST", "/dial", body, {"Content-Type": "application/json"})
            k += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)
        await conn.close()

    async def sampler(stop: asyncio.Event) -> None:
        conn = Connection(api_host, api_port)
        t0 = time.monotonic()
        while not stop.is_set():
            samples.append(
                {
                    "t": round(time.monotonic() - t0, 1),
                    "lag": await lag(conn),
                    "rss": {k: round(rss_mib(v), 1) for k, v in pids.items()},
                }
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)
        await conn.close()

    stop = asyncio.Event()
    side = [asyncio.create_task(sampler(stop)), asyncio.create_task(dialer_load(stop))]
    run = await open_loop(
        pipe["ingest"].url, Callbacks(pipe.env["CALLSTREAM_PUBLIC_URL"]), rate, n, after=after
    )
    await asyncio.gather(*pollers)
    conn = Connection(api_host, api_port)
    deadline = time.monotonic() + 120
    while await lag(conn) > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await conn.close()
    stop.set()
    await asyncio.gather(*side)
    return {
        "callbacks": n,
        "seconds": round(run.elapsed, 1),
        "rate": round(n / run.elapsed, 1),
        "statuses": run.statuses,
        "connection_errors": run.errors,
        "ingest_p50_ms": round(pct(run.latencies, 50) * 1000, 1),
        "ingest_p99_ms": round(pct(run.latencies, 99) * 1000, 1),
        "e2e_p50_ms": round(pct(e2e, 50) * 1000, 1),
        "e2e_p99_ms": round(pct(e2e, 99) * 1000, 1),
        "e2e_max_ms": round(max(e2e) * 1000, 1) if e2e else None,
        "e2e_samples": len(e2e),
        "lag_max": max(s["lag"] for s in samples),
        "rss_start_mib": {k: round(v, 1) for k, v in rss_start.items()},
        "rss_end_mib": samples[-1]["rss"],
        "rss_max_mib": {k: max(s["rss"][k] for s in samples) for k in pids},
    }


async def phase2(pipe: Pipeline, seconds: float, conns: int = 32) -> dict[str, Any]:
    api = Connection(*split(pipe["projector"].url))
    lags: list[float] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            lags.append(await lag(api))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 2)

    w = asyncio.create_task(watch())
    run = await closed_loop(
        pipe["ingest"].url,
        Callbacks(pipe.env["CALLSTREAM_PUBLIC_URL"], first_call=10**9),
        seconds,
        conns,
    )
    done.set()
    await w
    t1 = time.monotonic()
    while await lag(api) > 0 and time.monotonic() - t1 < 300:
        await asyncio.sleep(0.2)
    drain_s = time.monotonic() - t1
    await api.close()
    total = sum(run.statuses.values())
    return {
        "connections": conns,
        "seconds": round(run.elapsed, 1),
        "requests": total,
        "rate": round(total / run.elapsed, 1),
        "statuses": run.statuses,
        "connection_errors": run.errors,
        "p50_ms": round(pct(run.latencies, 50) * 1000, 1),
        "p99_ms": round(pct(run.latencies, 99) * 1000, 1),
        "projector_lag_max": max(lags) if lags else None,
        "projector_caught_up_after_s": round(drain_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--burst-seconds", type=float, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Pipeline(Path(tmp), CALLSTREAM_CPS="1") as pipe:
        pipe.start("broker", "emulator", "projector", "ingest", "dialer")
        res: dict[str, Any] = {"phase1": asyncio.run(phase1(pipe, args.rate, args.minutes * 60))}
        print(json.dumps(res["phase1"]), flush=True)
        res["phase2"] = asyncio.run(phase2(pipe, args.burst_seconds))
        print(json.dumps(res["phase2"]), flush=True)
        res["processes_dead_at_end"] = [n for n, p in pipe.procs.items() if not p.alive()]
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
