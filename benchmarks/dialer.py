"""Dialer benchmark: a backlog placed at the account's rate, as the receiver sees it.

    python benchmarks/dialer.py                       # 120 requests at 1 CPS, 3 scenarios
    python benchmarks/dialer.py --calls 20 --cps 5    # a quick look
    python benchmarks/dialer.py --scenarios two-accounts --calls 60 --cps 1 --second-cps 2

Everything runs on this machine: the embedded broker, the Twilio emulator (CPS queue and
request log, served by uvicorn in a thread), a sink for status callbacks, and
``callstream dialer`` as a real process. ``N`` requests are enqueued at once, then the
dialer starts. Scenarios, each on topics of its own:

* ``steady``: one dialer from start to end;
* ``restart``: the dialer is stopped with SIGTERM after half the calls and started again
  at once (a deploy);
* ``kill``: the same with SIGKILL (a crash);
* ``two-accounts`` (run it by name): two accounts in a ``CALLSTREAM_ACCOUNTS`` file with
  different ``cps`` (``--cps`` and ``--second-cps``), the emulator serving both
  (``--account``), ``N`` requests for each, enqueued interleaved. Reported per account:
  min and mean gap between that account's creates as the emulator logs them, against
  1/cps; and the combined rate, while both accounts still had calls to place, against
  the sum of both rates. It needs a dialer that
  paces each account on its own (``callstream/accounts.py``); without one the script
  refuses the scenario with one line.

Reported, from the emulator's log of create requests (``received_at``): min, mean and max
gap between successive creates, the mean without the one gap that spans the restart, the
total time from the first to the last create, and double dials (a request's To number
created twice). Targets: min >= 1/CPS, mean <= 1.02/CPS, no double dial.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "bench_auth_token_0123456789abcdef"
SECOND_SID = "AC" + "fedcba9876543210" * 2
SECOND_TOKEN = "bench_second_token_0123456789abcd"
TWO_ACCOUNTS = "two-accounts"
CLI = [sys.executable, "-c", "import sys; from callstream.cli import main; sys.exit(main())"]


class Served:
    """An ASGI app under uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from callstream.broker import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(cfg)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def sink_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def status(request: Any) -> Response:
        await request.body()
        return Response(status_code=204)

    return Starlette(routes=[Route("/twilio/status", status, methods=["POST"])])


def start_dialer(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    from callstream.broker import free_port

    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [*CLI, "dialer", "--port", str(free_port())],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def dialer_env(bootstrap: str, prefix: str, api_url: str, sink_url: str) -> dict[str, str]:
    """The dialer's environment without any account: each scenario adds its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "CALLSTREAM_"))}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CALLSTREAM_KAFKA_PROFILE": "tansu",
            "CALLSTREAM_TOPIC_PREFIX": prefix,
            "TWILIO_API_URL": api_url,
            "CALLSTREAM_PUBLIC_URL": sink_url,
        }
    )
    return env


def enqueue(settings: Any, calls: list[tuple[str, int]]) -> None:
    """One request per (account, n) to +1415556nnnn, keyed by the account, in that order."""
    from callstream import kafka_clients, topics
    from callstream.dialrequest import from_input

    producer = kafka_clients.make_producer(settings, "bench", linger_ms=5)
    body = {"from": "+14155550000", "twiml": "<Response><Say>benchmark</Say></Response>"}
    futures = [
        producer.send(
            settings.topic(topics.DIALER_REQUESTS),
            from_input({**body, "to": f"+1415556{i:04d}"}, account).to_json(),
            key=account.encode(),
        )
        for account, i in calls
    ]
    for f in futures:
        f.get(timeout=30)
    producer.close()


def gap_stats(times: list[float]) -> dict[str, float]:
    gaps = [b - a for a, b in itertools.pairwise(sorted(times))]
    return {"min_gap_s": min(gaps), "mean_gap_s": statistics.fmean(gaps), "max_gap_s": max(gaps)}


def per_account_pacing() -> str | None:
    """None when this build's dialer paces several accounts; else why not, in one line."""
    import importlib.util

    if importlib.util.find_spec("callstream.accounts") is None:
        return (
            f"{TWO_ACCOUNTS}: refused: this build's dialer serves one account only "
            "(no callstream/accounts.py, CALLSTREAM_ACCOUNTS; issue 13)"
        )
    return None


def run_two_accounts(
    bootstrap: str, n: int, cps: tuple[float, float], sink_url: str, workdir: Path
) -> dict[str, Any]:
    """Two accounts of different cps through one dialer, from a CALLSTREAM_ACCOUNTS file."""
    import httpx

    from callstream import kafka_clients
    from callstream.settings import Settings
    from emulator import EmulatorConfig, create_app

    accounts = {ACCOUNT_SID: (AUTH_TOKEN, cps[0]), SECOND_SID: (SECOND_TOKEN, cps[1])}
    config = EmulatorConfig(
        ACCOUNT_SID,
        AUTH_TOKEN,
        cps=max(cps),  # the emulator's queues never hold the calls back
        speed=20.0,
        extra_accounts={SECOND_SID: SECOND_TOKEN},
    )
    emu = Served(create_app(config))
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings.from_env(
        env={}, kafka_bootstrap_servers=bootstrap, kafka_profile="tansu", topic_prefix=prefix
    )
    kafka_clients.ensure_topics(settings)
    env = dialer_env(bootstrap, prefix, emu.url, sink_url)
    toml = workdir / "accounts.toml"
    with toml.open("w") as f:
        for k, (sid, (token, rate)) in enumerate(accounts.items()):
            env[f"BENCH_TOKEN_{k}"] = token
            f.write(
                f'[[account]]\nsid = "{sid}"\nauth_token_env = "BENCH_TOKEN_{k}"\n'
                f'cps = {rate}\nfriendly_name = "bench-{k}"\n\n'
            )
    env["CALLSTREAM_ACCOUNTS"] = str(toml)
    enqueue(settings, [(sid, i * 2 + k) for i in range(n) for k, sid in enumerate(accounts)])

    def placed() -> list[dict[str, Any]]:
        got = httpx.get(emu.url + "/emulator/requests", timeout=30).json()
        return [r for r in got if r.get("call_sid")]

    proc = start_dialer(env, workdir / f"{TWO_ACCOUNTS}.log")
    try:
        deadline = time.time() + n / min(cps) * 2 + 120
        while len(placed()) < 2 * n and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(2.0)  # anything late (a double dial) would show up now
        got = placed()
        exited = proc.poll()  # the dialer gave up on its own (read its log)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        emu.close()
    out: dict[str, Any] = {"scenario": TWO_ACCOUNTS, "requests": 2 * n, "creates": len(got)}
    if exited is not None:
        out["dialer_exited"] = exited
    times = [r["received_at"] for r in got]
    for k, (sid, (_, rate)) in enumerate(accounts.items()):
        mine = [r["received_at"] for r in got if r["account_sid"] == sid]
        row: dict[str, Any] = {"cps": rate, "creates": len(mine)}
        if len(mine) >= 2:
            row.update(gap_stats(mine))
            row["min_gap_ratio"] = row["min_gap_s"] * rate  # >= 1: never over the rate
            row["mean_gap_ratio"] = row["mean_gap_s"] * rate  # 1.0 would be exactly the rate
        out[f"account_{k}"] = row
    # the combined rate while both accounts still had calls to place: from the later of
    # their first creates to the earlier of their last (the faster account finishes first;
    # after that only the slower one runs, which says nothing about the two side by side)
    per = [sorted(r["received_at"] for r in got if r["account_sid"] == sid) for sid in accounts]
    if len(times) >= 2 and all(len(p) >= 2 for p in per):
        start, end = max(p[0] for p in per), min(p[-1] for p in per)
        inside = sum(start <= t <= end for t in times)
        if end > start and inside >= 2:
            out["combined_rate_cps"] = (inside - 1) / (end - start)
            out["combined_rate_ratio"] = out["combined_rate_cps"] / sum(cps)
    tos = Counter(dict(r["params"])["To"] for r in got)
    out["double_dials"] = sum(c - 1 for c in tos.values() if c > 1)
    out["not_placed"] = 2 * n - len(tos)
    return out


def run_scenario(
    name: str, bootstrap: str, n: int, cps: float, sink_url: str, workdir: Path
) -> dict[str, Any]:
    import httpx

    from callstream import kafka_clients
    from callstream.settings import Settings
    from emulator import EmulatorConfig, create_app

    emu = Served(create_app(EmulatorConfig(ACCOUNT_SID, AUTH_TOKEN, cps=cps, speed=20.0)))
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = Settings.from_env(
        env={},
        kafka_bootstrap_servers=bootstrap,
        kafka_profile="tansu",
        twilio_account_sid=ACCOUNT_SID,
        topic_prefix=prefix,
    )
    kafka_clients.ensure_topics(settings)
    env = dialer_env(bootstrap, prefix, emu.url, sink_url)
    env.update(
        {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "CALLSTREAM_CPS": str(cps),
        }
    )
    enqueue(settings, [(ACCOUNT_SID, i) for i in range(n)])

    def received() -> list[dict[str, Any]]:
        return list(httpx.get(emu.url + "/emulator/requests", timeout=30).json())

    log_path = workdir / f"{name}.log"
    proc = start_dialer(env, log_path)
    restart_at = None
    try:
        if name in ("restart", "kill"):
            while len(received()) < n // 2:
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM if name == "restart" else signal.SIGKILL)
            proc.wait(timeout=60)
            restart_at = time.time()
            proc = start_dialer(env, log_path)
        deadline = time.time() + n / cps * 2 + 120
        while len(received()) < n and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # anything late (a double dial) would show up now
        got = received()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        emu.close()
    times = sorted(r["received_at"] for r in got)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    tos = Counter(dict(r["params"])["To"] for r in got if r.get("call_sid"))
    out: dict[str, Any] = {
        "scenario": name,
        "requests": n,
        "creates_received": len(got),
        "cps": cps,
        **gap_stats(times),
        "p99_gap_s": sorted(gaps)[int(len(gaps) * 0.99) - 1] if gaps else None,
        "gaps_over_1.05_intervals": sum(1 for g in gaps if g > 1.05 / cps),
        "total_s": times[-1] - times[0],
        "double_dials": sum(c - 1 for c in tos.values() if c > 1),
        "not_placed": n - len(tos),
    }
    # where slow gaps come from, from the dialer's own "call created" lines
    created = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "call created" and rec.get("late_ms") is not None:
            created.append(rec)
    if created:
        out["dialer_gaps_over_1.05_intervals"] = sum(
            1 for r in created if r.get("gap_ms") and r["gap_ms"] > 1050 / cps
        )
        out["late_starts_over_20ms"] = sum(1 for r in created if r["late_ms"] > 20)
        out["max_late_ms"] = max(r["late_ms"] for r in created)
        out["answers_over_20ms"] = sum(1 for r in created if r["rtt_ms"] > 20)
        out["max_answer_ms"] = max(r["rtt_ms"] for r in created)
    if restart_at is not None:
        # the gap that spans the restart: the largest one
        rest = sorted(gaps)[:-1]
        out["restart_gap_s"] = max(gaps)
        out["mean_gap_without_restart_s"] = statistics.fmean(rest)
        out["max_gap_without_restart_s"] = max(rest)
    return out


def two_accounts_ok(r: dict[str, Any]) -> bool:
    rows = [r.get("account_0", {}), r.get("account_1", {})]
    return (
        r["double_dials"] == 0
        and r["not_placed"] == 0
        and all(row.get("min_gap_ratio", 0) >= 1 and row["mean_gap_ratio"] <= 1.02 for row in rows)
        # side by side, not one behind the other: together near the sum of the two rates
        and r.get("combined_rate_ratio", 0) >= 0.95
    )


def print_two_accounts(r: dict[str, Any]) -> None:
    print()
    print("| account | cps | creates | min gap (ratio to 1/cps) | mean gap (ratio) | max gap |")
    print("|---|---|---|---|---|---|")
    for k in (0, 1):
        a = r[f"account_{k}"]
        if "min_gap_s" not in a:
            print(f"| {k + 1} | {a['cps']:g} | {a['creates']} | — | — | — |")
            continue
        print(
            f"| {k + 1} | {a['cps']:g} | {a['creates']} "
            f"| {a['min_gap_s']:.4f} s ({a['min_gap_ratio']:.3f}) "
            f"| {a['mean_gap_s']:.4f} s ({a['mean_gap_ratio']:.3f}) | {a['max_gap_s']:.4f} s |"
        )
    rate = r.get("combined_rate_cps")
    if rate is not None:
        print(
            f"\ncombined, while both accounts had calls to place: {rate:.3f} calls/s, "
            f"{r['combined_rate_ratio']:.3f} of the sum of the two rates; "
            f"double dials {r['double_dials']}, not placed {r['not_placed']}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=120, help="requests (per account)")
    ap.add_argument("--cps", type=float, default=1.0, help="the (first) account's rate")
    ap.add_argument(
        "--second-cps", type=float, default=2.0, help=f"the second account's rate ({TWO_ACCOUNTS})"
    )
    ap.add_argument("--scenarios", default="steady,restart,kill")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    names = args.scenarios.split(",")
    unknown = sorted(set(names) - {"steady", "restart", "kill", TWO_ACCOUNTS})
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    if TWO_ACCOUNTS in names and (why := per_account_pacing()) is not None:
        print(why, file=sys.stderr)
        return 2

    from callstream.broker import EmbeddedBroker

    results = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        sink = Served(sink_app())
        try:
            for name in names:
                if name == TWO_ACCOUNTS:
                    rates = (args.cps, args.second_cps)
                    r = run_two_accounts(broker.bootstrap, args.calls, rates, sink.url, Path(tmp))
                else:
                    r = run_scenario(
                        name, broker.bootstrap, args.calls, args.cps, sink.url, Path(tmp)
                    )
                results.append(r)
                if not args.json:
                    print(json.dumps(r), flush=True)
        finally:
            sink.close()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    single = [r for r in results if r["scenario"] != TWO_ACCOUNTS]
    if single:
        print()
        print(
            "| scenario | creates | min gap | mean gap | max gap | mean w/o restart gap "
            "| restart gap | total | double dials |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
    for r in single:
        print(
            f"| {r['scenario']} | {r['creates_received']} | {r['min_gap_s']:.4f} s "
            f"| {r['mean_gap_s']:.4f} s | {r['max_gap_s']:.4f} s "
            f"| {r.get('mean_gap_without_restart_s', r['mean_gap_s']):.4f} s "
            f"| {r.get('restart_gap_s', 0):.2f} s | {r['total_s']:.1f} s "
            f"| {r['double_dials']} |"
        )
    ok = all(
        r["min_gap_s"] >= 1 / args.cps
        and r["double_dials"] == 0
        and r.get("mean_gap_without_restart_s", r["mean_gap_s"]) <= 1.02 / args.cps
        for r in single
    )
    for r in results:
        if r["scenario"] == TWO_ACCOUNTS:
            print_two_accounts(r)
            ok = ok and two_accounts_ok(r)
    print("\ntargets met" if ok else "\nTARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
