"""The loss window of ``callstream up`` on the embedded broker: callbacks answered ``204``
and missing after a ``kill -9`` of ``callstream up`` and a start again in the same folder.

Per trial: start ``callstream up`` in a new folder, send signed status callbacks at a steady
``--rate`` (one new CallSid each) for ``--seconds``, ``kill -9`` callstream up while the load
still runs, start it again in the same folder, and count the callbacks that were answered
``204`` but are not in the restored log (the archive) or in the projected ``calls`` table.

Two modes, chosen by ``CALLSTREAM_ARCHIVE_ACK`` for the run:

- ``gate`` (the default of ``callstream up``): ingest answers ``204`` once the archive
  holds the callback.
- ``tail``: ingest answers on the broker's acknowledgement; the archiver follows the tail
  with the embedded profile's short fetch wait (50 ms).

    python benchmarks/loss_window.py --rate 200 --seconds 20 --trials 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.ingest import ACCOUNT_SID, AUTH_TOKEN, callback_pairs  # noqa: E402
from benchmarks.loadgen import Response, open_loop, pct  # noqa: E402
from callstream.broker import free_port  # noqa: E402
from callstream.envelope import decode  # noqa: E402

NAMES = ("ingest", "projector", "dialer", "archive", "emulator", "broker", "reconciler")


class Up:
    def __init__(self, folder: Path, ports: dict[str, int], gate: bool) -> None:
        argv = [sys.executable, "-m", "callstream", "up"]
        for name, port in ports.items():
            argv += [f"--{name}-port", str(port)]
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CALLSTREAM_", "TWILIO_", "KAFKA_"))
        }
        env.update(
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            CALLSTREAM_ARCHIVE_ACK="1" if gate else "0",
            CALLSTREAM_LOG_LEVEL="WARNING",
        )
        self.out = folder / f"up-{time.monotonic_ns()}.log"
        self.log = open(self.out, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            argv, cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.out.read_text()
            if "Ctrl-C stops everything." in text:
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"callstream up exited:\n{text}")
            time.sleep(0.2)
        raise SystemExit(f"callstream up not ready in {timeout} s:\n{self.out.read_text()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)
        self.log.close()


def signed(url: str, i: int) -> tuple[str, str, bytes, dict[str, str]]:
    from twilio.request_validator import RequestValidator

    from ingest.signature import MultiParams

    sid = f"CA{i:032x}"
    pairs = callback_pairs(sid, 0)
    sig = RequestValidator(AUTH_TOKEN).compute_signature(url, MultiParams.from_pairs(pairs))
    body = urlencode(pairs).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
    return "POST", "/twilio/status", body, headers


def archived_sids(folder: Path) -> set[str]:
    with sqlite3.connect(folder / "callstream-archive.db") as c:
        rows = c.execute("SELECT value FROM records WHERE topic = 'twilio.call-status'")
        return {decode(v).call_sid or "" for (v,) in rows}


def projected_sids(folder: Path) -> set[str]:
    with sqlite3.connect(folder / "callstream.db") as c:
        return {r[0] for r in c.execute("SELECT call_sid FROM calls")}


def trial(gate: bool, rate: float, seconds: float, offset: int, keep: bool) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="callstream-loss-"))
    ports = {n: free_port() for n in NAMES}
    up = Up(folder, ports, gate)
    up.wait_ready()
    url = f"http://127.0.0.1:{ports['ingest']}"
    answered: dict[str, float] = {}

    async def after(i: int, resp: Response, due: float) -> None:
        if resp.status == 204:
            answered[f"CA{offset + i:032x}"] = time.perf_counter() - due

    def kill_later() -> None:
        time.sleep(seconds)
        up.proc.send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_later)
    killer.start()
    count = int(rate * (seconds + 1))
    run = asyncio.run(
        open_loop(url, lambda i: signed(url + "/twilio/status", offset + i), rate, count, 32, after)
    )
    killer.join()
    up.proc.wait()
    up.log.close()
    again = Up(folder, {n: free_port() for n in NAMES}, gate)
    again.wait_ready()
    in_log = archived_sids(folder)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not set(answered) <= projected_sids(folder):
        time.sleep(0.5)
    in_calls = projected_sids(folder)
    again.close()
    if not keep:
        shutil.rmtree(folder)
    lat = sorted(answered.values())
    return {
        "mode": "gate" if gate else "tail",
        "sent_before_kill": int(rate * seconds),
        "answered_204": len(answered),
        "errors": run.errors,
        "missing_from_log": len(set(answered) - in_log),
        "missing_from_calls": len(set(answered) - in_calls),
        "in_log_not_answered": len(in_log - set(answered)),
        "p50_ms": round(pct(lat, 50) * 1000, 1),
        "p99_ms": round(pct(lat, 99) * 1000, 1),
        **({"folder": str(folder)} if keep else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--modes", default="tail,gate")
    ap.add_argument("--keep", action="store_true", help="keep each trial's folder")
    args = ap.parse_args()
    offset = 0
    for mode in args.modes.split(","):
        for _ in range(args.trials):
            res = trial(mode == "gate", args.rate, args.seconds, offset, args.keep)
            offset += 10**6
            print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
