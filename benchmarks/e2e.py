"""End-to-end latency: a signed callback POSTed to ingest → its row visible in the projector.

Runs the real processes (``callstream broker``, ``ingest``, ``projector``) on loopback,
sends callbacks at a fixed rate (open loop: the send schedule does not wait for answers),
one new CallSid per callback, and measures for each callback the time from the start of
its POST to the moment its row is visible: (1) in the SQLite file (polled every 2 ms by
this process, a read-only connection) and (2) through ``GET /calls/{sid}`` for a sample.

    python benchmarks/e2e.py --rate 200 --seconds 20

The target (issue 4): p99 under 50 ms at 200 callbacks/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN
from tests.support.pipeline import Pipeline


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def params(i: int) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": f"CA{i:032x}",
        "CallStatus": "completed",
        "CallbackSource": "call-progress-events",
        "Direction": "outbound-api",
        "From": "+15005550006",
        "To": "+14155551212",
        "SequenceNumber": "0",
        "Timestamp": "Tue, 31 Aug 2010 20:36:28 +0000",
        "CallDuration": "12",
        "Duration": "1",
    }


async def run(rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    with Pipeline(tmp) as pipe:
        pipe.start("broker", "projector", "ingest")
        url = pipe.env["CALLSTREAM_PUBLIC_URL"] + "/twilio/status"
        ingest = pipe["ingest"].url + "/twilio/status"
        api = pipe["projector"].url
        validator = RequestValidator(AUTH_TOKEN)
        n = int(rate * seconds)
        bodies = []
        for i in range(n):
            p = params(i)
            bodies.append((p, validator.compute_signature(url, p)))
        # warm up: the projector has joined its group and applied a callback end to end
        warm = params(10**9)
        async with httpx.AsyncClient(timeout=30) as client:
            sig = validator.compute_signature(url, warm)
            r = await client.post(ingest, data=warm, headers={"X-Twilio-Signature": sig})
            assert r.status_code == 204, r.text
            deadline = time.monotonic() + 60
            while (await client.get(f"{api}/calls/{warm['CallSid']}")).status_code != 200:
                assert time.monotonic() < deadline, "projector never applied the warm-up"
                await asyncio.sleep(0.01)
        started: dict[str, float] = {}
        visible: dict[str, float] = {}
        acked: dict[str, float] = {}
        api_lat: list[float] = []
        errors = 0
        db = pipe.env["CALLSTREAM_DB"]

        async def watch() -> None:
            while not Path(db).exists():
                await asyncio.sleep(0.01)
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
            seen_rowid = 0
            while len(visible) < n + 1:
                try:
                    rows = conn.execute(
                        "SELECT rowid, call_sid FROM calls WHERE rowid > ?", (seen_rowid,)
                    ).fetchall()
                except sqlite3.OperationalError:
                    rows = []
                now = time.perf_counter()
                for rowid, sid in rows:
                    seen_rowid = max(seen_rowid, rowid)
                    visible.setdefault(sid, now)
                await asyncio.sleep(0.002)
            conn.close()

        async def send(client: httpx.AsyncClient, i: int) -> None:
            nonlocal errors
            p, sig = bodies[i]
            sid = p["CallSid"]
            started[sid] = time.perf_counter()
            r = await client.post(ingest, data=p, headers={"X-Twilio-Signature": sig})
            acked[sid] = time.perf_counter()
            if r.status_code != 204:
                errors += 1
            if i % 20 == 0:  # sample the API path too
                t0 = time.perf_counter()
                while True:
                    g = await client.get(f"{api}/calls/{sid}")
                    if g.status_code == 200:
                        api_lat.append(time.perf_counter() - started[sid])
                        break
                    if time.perf_counter() - t0 > 10:
                        break
                    await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            t0 = time.perf_counter()
            tasks = []
            for i in range(n):
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(client, i)))
            await asyncio.gather(*tasks)
            await asyncio.wait_for(watcher, timeout=60)
        lat = [visible[s] - started[s] for s in started]
        ack = [acked[s] - started[s] for s in started]
        after = [visible[s] - acked[s] for s in started]
        return {
            "ingest_p50_ms": pct(ack, 50) * 1000,
            "ingest_p99_ms": pct(ack, 99) * 1000,
            "ack_to_row_p50_ms": pct(after, 50) * 1000,
            "ack_to_row_p99_ms": pct(after, 99) * 1000,
            "callbacks": n,
            "errors": errors,
            "db_p50_ms": pct(lat, 50) * 1000,
            "db_p99_ms": pct(lat, 99) * 1000,
            "db_max_ms": max(lat) * 1000,
            "db_mean_ms": statistics.mean(lat) * 1000,
            "api_p50_ms": pct(api_lat, 50) * 1000,
            "api_p99_ms": pct(api_lat, 99) * 1000,
            "api_samples": len(api_lat),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = asyncio.run(run(args.rate, args.seconds, Path(tmp)))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
