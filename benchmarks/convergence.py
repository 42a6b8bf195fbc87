"""Convergence benchmark: how many calls' projected state differs from Twilio's truth when
the emulator loses 30 % of the status callbacks, without and with the reconciler.

    python benchmarks/convergence.py                         # 100 calls, both modes
    python benchmarks/convergence.py --calls 20 --modes reconciler
    python benchmarks/convergence.py --modes event-streams   # needs --event-sink (see below)

Everything runs on this machine as real processes: the embedded broker, ``callstream
emulator --chaos-drop 0.3`` (a fixed seed, mixed outcomes from a scenario file), ingest,
the projector, the dialer and, in the ``reconciler`` mode, ``callstream reconciler``. The
calls are placed through the dialer (``POST /dial`` on ingest). Modes, each on fresh
topics, database and emulator:

* ``none``: the baseline, no reconciler;
* ``reconciler``: the reconciler with a SHORT window (``--after``, default 5 s instead of
  the production default of 120 s, so the run takes a minute, not ten);
* ``event-streams``: no reconciler; the emulator mirrors every call-progress event to
  ingest's ``POST /twilio/events`` (``callstream emulator --event-sink URL``), which keeps
  its own at-least-once delivery. Needs that interface in the build.

Reported per mode, once every call has ended on the emulator's REST API: the calls whose
projected status differs from ``GET .../Calls/{Sid}.json`` (missing rows included) right
then and at the end of the wait; the time from the last call's end until none differs
(or the wait's end); REST fetches per call (the reconciler's own metric).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "bench_auth_token_0123456789abcdef"
TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}
# mixed outcomes: most calls are answered and talk; some are busy, unanswered or fail
SCENARIOS = {
    "default": {"outcome": "answered", "ring": 3, "talk": 20},
    "numbers": {
        "+1555000100*": {"outcome": "busy", "ring": 2},
        "+1555000200*": {"outcome": "no-answer"},
        "+1555000300*": {"outcome": "failed", "ring": 1},
    },
}
NUMBERS = ("+15550001000", "+15550002000", "+15550003000")


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "callstream", *argv],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=logs,
        )

    def wait_ready(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = Path(self.log.name).read_text(errors="replace")[-2000:]
                raise SystemExit(f"convergence: {self.name} exited while starting:\n{tail}")
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"convergence: {self.name} not ready within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def rest_calls(emulator: str) -> dict[str, str]:
    """CallSid -> status, from the emulator's REST list (Twilio's truth)."""
    r = httpx.get(
        f"{emulator}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        params={"PageSize": "1000"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=30,
    )
    r.raise_for_status()
    return {c["sid"]: c["status"] for c in r.json()["calls"]}


def projected(db: Path) -> dict[str, str]:
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT call_sid, status FROM calls").fetchall())
    except sqlite3.OperationalError:  # the projector has not created its tables yet
        return {}
    finally:
        conn.close()


def differing(truth: dict[str, str], db: Path) -> int:
    mine = projected(db)
    return sum(1 for sid, status in truth.items() if mine.get(sid) != status)


def metric_sum(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def run_mode(mode: str, args: argparse.Namespace, bootstrap: str, tmp: Path) -> dict[str, Any]:
    from callstream.broker import free_port

    logs = tmp / mode
    logs.mkdir()
    scenarios = logs / "scenarios.json"
    scenarios.write_text(json.dumps(SCENARIOS))
    ports = {n: free_port() for n in ("emulator", "ingest", "projector", "dialer", "reconciler")}
    url = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "TWILIO_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        CALLSTREAM_KAFKA_PROFILE="tansu",
        CALLSTREAM_TOPIC_PREFIX=f"conv{uuid.uuid4().hex[:8]}.",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_URL=url["emulator"],
        CALLSTREAM_PUBLIC_URL=url["ingest"],
        CALLSTREAM_DB=str(logs / "callstream.db"),
        CALLSTREAM_SPOOL=str(logs / "spool.db"),
        CALLSTREAM_CPS=str(args.cps),
        CALLSTREAM_RECONCILE_AFTER=str(args.after),
        CALLSTREAM_LOG_LEVEL="WARNING",
    )
    subprocess.run(
        [sys.executable, "-m", "callstream", "topics"], env=env, check=True, capture_output=True
    )
    emu_argv = ["emulator", "--port", str(ports["emulator"]), "--cps", str(args.cps)]
    emu_argv += ["--chaos-drop", str(args.drop), "--seed", str(args.seed)]
    emu_argv += ["--scenarios", str(scenarios), "--speed", str(args.speed)]
    if mode == "event-streams":
        emu_argv += ["--event-sink", url["ingest"] + "/twilio/events"]
    names = ["emulator", "projector", "ingest", "dialer"]
    if mode == "reconciler":
        names.append("reconciler")
    procs: dict[str, Proc] = {}
    try:
        for name in names:
            argv = emu_argv if name == "emulator" else [name, "--port", str(ports[name])]
            if name == "reconciler":
                argv += ["--state", str(logs / "reconciler.db"), "--rate", "20"]
            procs[name] = Proc(name, argv, env, logs)
            procs[name].wait_ready(url[name])
        started = time.monotonic()
        for i in range(args.calls):
            to = NUMBERS[i % len(NUMBERS)] if i % 5 == 0 else f"+1555010{i:04d}"
            r = httpx.post(
                url["ingest"] + "/dial",
                json={
                    "to": to,
                    "from": "+15005550001",
                    "twiml": "<Response><Say>hi</Say></Response>",
                },
                timeout=30,
            )
            r.raise_for_status()
        # every call created and ended on the emulator (Twilio's truth)
        deadline = time.monotonic() + args.wait
        truth: dict[str, str] = {}
        while time.monotonic() < deadline:
            truth = rest_calls(url["emulator"])
            if len(truth) >= args.calls and all(s in TERMINAL for s in truth.values()):
                break
            time.sleep(0.5)
        ended = time.monotonic()
        at_end = differing(truth, Path(env["CALLSTREAM_DB"]))
        converged_after: float | None = None
        left = at_end
        while time.monotonic() < deadline:
            left = differing(truth, Path(env["CALLSTREAM_DB"]))
            if left == 0:
                converged_after = time.monotonic() - ended
                break
            if mode == "none" and time.monotonic() - ended > args.settle:
                break  # nothing else will come: callbacks are delivered by now
            time.sleep(0.5)
        asks = (
            metric_sum(url["reconciler"], "callstream_reconciler_requests_total")
            if mode == "reconciler"
            else 0.0
        )
        return {
            "mode": mode,
            "calls": len(truth),
            "differing_when_all_ended": at_end,
            "differing_at_end": left,
            "converged_s_after_last_end": (
                round(converged_after, 1) if converged_after is not None else None
            ),
            "dial_to_last_end_s": round(ended - started, 1),
            "rest_requests_per_call": round(asks / max(len(truth), 1), 2),
        }
    finally:
        for proc in reversed(list(procs.values())):
            proc.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--drop", type=float, default=0.3, help="emulator --chaos-drop (0.3)")
    p.add_argument("--cps", type=float, default=10.0, help="dialer and emulator CPS (10)")
    p.add_argument("--speed", type=float, default=1.0, help="emulator --speed (1)")
    p.add_argument("--after", type=float, default=5.0, help="reconciler window, s (short: 5)")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--wait", type=float, default=300.0, help="give up after this many s")
    p.add_argument("--settle", type=float, default=10.0, help="baseline: wait after the end")
    p.add_argument(
        "--modes",
        default="none,reconciler",
        help="comma-separated: none, reconciler, event-streams (default none,reconciler)",
    )
    p.add_argument(
        "--route", choices=("event-streams",), default=None, help="= --modes event-streams"
    )
    args = p.parse_args()
    modes = ["event-streams"] if args.route else [m.strip() for m in args.modes.split(",")]
    for m in modes:
        if m not in ("none", "reconciler", "event-streams"):
            p.error(f"unknown mode {m!r}")
    from callstream.broker import EmbeddedBroker

    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="callstream-conv-") as d, EmbeddedBroker() as broker:
        for mode in modes:
            result = run_mode(mode, args, broker.bootstrap, Path(d))
            print(json.dumps(result), flush=True)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)


if __name__ == "__main__":
    main()
