"""Slow clients against a real ``callstream ingest``: do they hurt everyone else's p99?

Starts ``callstream broker`` (embedded) and ``callstream ingest`` as processes on loopback,
then posts signed status callbacks at a fixed rate from a few client threads, twice:

- **Baseline:** the load alone (``--seconds``).
- **Attack:** the same load while ``--slow`` connections dribble a request head one byte a
  second (slowloris) and as many more connect and send nothing. Ingest drops each after its
  head timeout (``callstream.httplimits.HttpLimits.head_timeout_s``, 10 s) with a JSON 408.

Reports p50/p99/max latency of the callbacks in each phase, the attack/baseline ratios,
how many slow connections were dropped, and after how long. Then it sends 50 MB of header
fields (as the adversarial pass of issue 17 did) and reports ingest's answer and its peak
RSS (``VmHWM``) before and after.

    python benchmarks/slowloris.py --rate 100 --seconds 20 --slow 200
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import httpx

from callstream.broker import free_port
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until
from tests.ingest.support import call_sid, callback, form, sign

CLI = [sys.executable, "-m", "callstream"]


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)


def load(url: str, rate: float, seconds: float, threads: int = 4) -> list[float]:
    """Signed callbacks at ``rate``/s for ``seconds``; the latency of each (all must be 204)."""
    out: list[float] = []
    lock = threading.Lock()
    per = rate / threads

    def run() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            t0 = time.perf_counter()
            n = 0
            while (now := time.perf_counter()) - t0 < seconds:
                due = t0 + n / per
                if now < due:
                    time.sleep(due - now)
                pairs = callback(call_sid(), "ringing", 0)
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": sign(url + "/twilio/status", pairs),
                }
                s = time.perf_counter()
                r = client.post("/twilio/status", content=form(pairs), headers=headers)
                took = time.perf_counter() - s
                if r.status_code != 204:
                    raise SystemExit(f"callback answered {r.status_code}: {r.text}")
                with lock:
                    out.append(took)
                n += 1

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


class Slow(threading.Thread):
    """``n`` slowloris connections plus ``n`` silent ones; records when each was dropped."""

    def __init__(self, port: int, n: int) -> None:
        super().__init__(daemon=True)
        self.port, self.n = port, n
        self.dropped: list[tuple[float, bytes]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        t0 = time.monotonic()
        for i in range(2 * self.n):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.setblocking(False)
            if i % 2 == 0:
                s.send(b"POST /twilio/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            sel.register(s, selectors.EVENT_READ, data={"slow": i % 2 == 0, "got": b""})
        last_drip = time.monotonic()
        while sel.get_map() and not self.halt.is_set():
            for key, _ in sel.select(timeout=0.2):
                sock: Any = key.fileobj
                try:
                    chunk = sock.recv(4096)
                except OSError:
                    chunk = b""
                key.data["got"] += chunk
                if not chunk:
                    self.dropped.append((time.monotonic() - t0, key.data["got"][:12]))
                    sel.unregister(sock)
                    sock.close()
            if time.monotonic() - last_drip >= 1.0:
                last_drip = time.monotonic()
                for key in list(sel.get_map().values()):
                    if key.data["slow"]:
                        with contextlib.suppress(OSError):
                            key.fileobj.send(b"x")  # type: ignore[union-attr]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def huge_headers(port: int, megabytes: int = 50) -> str:
    """Send ``megabytes`` of header fields; the status line ingest answered, if any."""
    field = b"X-Pad: " + b"p" * 1000 + b"\r\n"
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(b"POST /twilio/status HTTP/1.1\r\nHost: x\r\n")
            for _ in range(megabytes * 1000):
                s.sendall(field)
        except OSError:
            pass
        try:
            while chunk := s.recv(65536):
                got += chunk
        except OSError:
            pass
    return got.split(b"\r\n", 1)[0].decode("latin-1")


def summary(lat: list[float]) -> dict[str, float]:
    q = statistics.quantiles(lat, n=100)
    return {
        "n": len(lat),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(lat) * 1000, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=100.0, help="callbacks per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    ap.add_argument(
        "--slow", type=int, default=200, help="slowloris connections (and as many silent)"
    )
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cs-slowloris-"))
    bport, iport = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "TWILIO_"))},
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{bport}",
        "CALLSTREAM_KAFKA_PROFILE": "tansu",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CALLSTREAM_PUBLIC_URL": f"http://127.0.0.1:{iport}",
        "CALLSTREAM_SPOOL": str(tmp / "spool.db"),
        "CALLSTREAM_LOG_LEVEL": "ERROR",
    }
    broker = start([*CLI, "broker", "--port", str(bport)], env, tmp / "broker.log")
    ingest = None
    try:
        wait_until(lambda: b'"ready"' in (tmp / "broker.log").read_bytes(), 60, what="broker")
        ingest = start([*CLI, "ingest", "--port", str(iport)], env, tmp / "ingest.log")
        url = f"http://127.0.0.1:{iport}"

        def ready() -> bool:
            try:
                return httpx.get(url + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, what="ingest ready")
        load(url, a.rate, 3.0)  # warm-up
        base = summary(load(url, a.rate, a.seconds))
        slow = Slow(iport, a.slow)
        slow.start()
        attack = summary(load(url, a.rate, a.seconds))
        slow.halt.set()
        slow.join(5)
        rss_before = peak_rss_mb(ingest.pid)
        answer = huge_headers(iport)
        rss_after = peak_rss_mb(ingest.pid)
        drops = [t for t, _ in slow.dropped]
        answered_408 = sum(1 for _, got in slow.dropped if got.startswith(b"HTTP/1.1 408"))
        report = {
            "rate_per_s": a.rate,
            "seconds_per_phase": a.seconds,
            "slow_connections": 2 * a.slow,
            "baseline": base,
            "attack": attack,
            "p50_ratio": round(attack["p50_ms"] / base["p50_ms"], 2),
            "p99_ratio": round(attack["p99_ms"] / base["p99_ms"], 2),
            "dropped": len(drops),
            "dropped_with_408": answered_408,
            "drop_after_s": {
                "min": round(min(drops), 2) if drops else None,
                "max": round(max(drops), 2) if drops else None,
            },
            "huge_headers": {"answer": answer, "peak_rss_mb": [rss_before, rss_after]},
        }
        print(json.dumps(report, indent=2))
    finally:
        for p in (ingest, broker):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(20)


if __name__ == "__main__":
    main()
