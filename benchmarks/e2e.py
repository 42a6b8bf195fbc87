"""End-to-end latency: a signed callback POSTed to ingest → its row visible in the projector.

Runs the real processes (``callstream broker``, ``ingest``, ``projector``) on loopback and
sends callbacks at a fixed rate (open loop, keep-alive connections, see ``loadgen.py``),
one new CallSid per callback. For every callback it records the time from its scheduled
send to (1) ingest's 204 and (2) its row being visible in the SQLite file (polled every
2 ms by this process through a read-only connection; what ``GET /calls/{sid}`` reads), and,
for one callback in 20, (3) the row being returned by ``GET /calls/{sid}``.

    python benchmarks/e2e.py --rate 200 --seconds 30

Target (issue 4): p99 under 50 ms at 200 callbacks/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.loadgen import Connection, Response, open_loop, pct, split
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN
from tests.support.pipeline import Pipeline


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


async def run(rate: float, seconds: float, tmp: Path) -> dict[str, Any]:
    with Pipeline(tmp) as pipe:
        pipe.start("broker", "projector", "ingest")
        url = pipe.env["CALLSTREAM_PUBLIC_URL"] + "/twilio/status"
        val = RequestValidator(AUTH_TOKEN)
        api_addr = split(pipe["projector"].url)
        db = pipe.env["CALLSTREAM_DB"]
        n = int(rate * seconds)

        def make(i: int) -> tuple[str, str, bytes, dict[str, str]]:
            p = params(i)
            return (
                "POST",
                "/twilio/status",
                urlencode(p).encode(),
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": val.compute_signature(url, p),
                },
            )

        # warm up: the projector applied one callback end to end
        conn = Connection(*split(pipe["ingest"].url))
        method, path, body, headers = make(10**9)
        assert (await conn.request(method, path, body, headers)).status == 204
        await conn.close()
        api = Connection(*api_addr)
        deadline = time.monotonic() + 60
        while (await api.request("GET", f"/calls/CA{10**9:032x}")).status != 200:
            assert time.monotonic() < deadline, "projector never applied the warm-up"
            await asyncio.sleep(0.01)
        await api.close()

        due_at: dict[str, float] = {}
        visible: dict[str, float] = {}
        api_lat: list[float] = []
        pollers: set[asyncio.Task[None]] = set()

        async def watch() -> None:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            seen = 0
            deadline = None
            while len(visible) < n + 1:
                rows = conn.execute("SELECT rowid, call_sid FROM calls WHERE rowid > ?", (seen,))
                now = time.perf_counter()
                for rowid, sid in rows.fetchall():
                    seen = max(seen, rowid)
                    visible.setdefault(sid, now)
                if len(due_at) >= n:
                    deadline = deadline or time.monotonic() + 60
                    if time.monotonic() > deadline:
                        break
                await asyncio.sleep(0.002)
            conn.close()

        async def poll(sid: str, due: float) -> None:
            c = Connection(*api_addr)
            while time.perf_counter() - due < 30:
                if (await c.request("GET", f"/calls/{sid}")).status == 200:
                    api_lat.append(time.perf_counter() - due)
                    break
                await asyncio.sleep(0.002)
            await c.close()

        async def after(i: int, resp: Response, due: float) -> None:
            sid = f"CA{i:032x}"
            due_at[sid] = due
            if i % 20 == 0:
                t = asyncio.create_task(poll(sid, due))
                pollers.add(t)
                t.add_done_callback(pollers.discard)

        watcher = asyncio.create_task(watch())
        res = await open_loop(pipe["ingest"].url, make, rate, n, after=after)
        await asyncio.gather(*pollers)
        await watcher
        lat = [visible[s] - due_at[s] for s in due_at if s in visible]
        # the same figures per window of the run, to tell a tail that grows with the run's
        # length (or the log's) from one spread evenly over it
        t0 = min(due_at.values())
        window = 60.0 if seconds >= 120 else max(1.0, seconds / 4)
        windows: dict[int, list[float]] = {}
        for s, due in due_at.items():
            if s in visible:
                windows.setdefault(int((due - t0) // window), []).append(visible[s] - due)
        by_window = [
            {
                "from_s": round(k * window),
                "row_p50_ms": round(pct(v, 50) * 1000, 1),
                "row_p99_ms": round(pct(v, 99) * 1000, 1),
                "row_max_ms": round(max(v) * 1000, 1),
            }
            for k, v in sorted(windows.items())
        ]
        return {
            "rate": rate,
            "callbacks": n,
            "statuses": res.statuses,
            "connection_errors": res.errors,
            "not_visible": n - len(lat),
            "ingest_p50_ms": round(pct(res.latencies, 50) * 1000, 1),
            "ingest_p99_ms": round(pct(res.latencies, 99) * 1000, 1),
            "row_p50_ms": round(pct(lat, 50) * 1000, 1),
            "row_p99_ms": round(pct(lat, 99) * 1000, 1),
            "row_max_ms": round(max(lat) * 1000, 1),
            "api_p50_ms": round(pct(api_lat, 50) * 1000, 1),
            "api_p99_ms": round(pct(api_lat, 99) * 1000, 1),
            "api_samples": len(api_lat),
            "row_by_window": by_window,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(run(args.rate, args.seconds, Path(tmp))), indent=2))


if __name__ == "__main__":
    main()
