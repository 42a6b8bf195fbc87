"""Ingest benchmark: callstream's ingest against a bare endpoint, the naive durable handler
and the Kafka client's own ceiling, in one run, against one broker.

    python benchmarks/ingest.py                 # 3 repetitions, medians, ratios
    python benchmarks/ingest.py --reps 1 --duration 5 --skip-spool   # a quick look

Variants, each served by uvicorn (uvloop + httptools) in a process of its own:

(a) ``bare``: a Starlette endpoint that parses the form (``request.form()``) and answers 204.
(b) ``naive``: what most projects write: ``request.form()``, ``RequestValidator.validate``,
    then ``producer.send(...).get()`` in Starlette's thread pool per request.
(c) ``ingest``: ``ingest.bootstrap.create_app`` (signature, checks, envelope, Kafka ack or spool).
(d) ``ceiling``: kafka-python alone producing the same records (futures + ``flush()``) with
    the same producer settings as (c).

Load: ``wrk`` with one thread (installed with apt-get when missing) replaying pre-signed
~1 KB Twilio-shaped callbacks, a distinct CallSid per request; and a fixed-rate open-loop
client (latency measured from the scheduled send time) for p50/p99 at a given rate.
Then the spool path: ingest with the broker down (callbacks/s into the spool), and the
drain rate once the broker is back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "bench_auth_token_0123456789abcdef"
PUBLIC = "https://hooks.example.com"
PATH = "/twilio/status"

# --------------------------------------------------------------------------- workload


def callback_pairs(sid: str, seq: int) -> list[tuple[str, str]]:
    """A realistic `completed` status callback, about 1 KB form-encoded."""
    return [
        ("Called", "+14155551212"),
        ("ToState", "CA"),
        ("CallerCountry", "US"),
        ("Direction", "outbound-api"),
        ("Timestamp", "Tue, 31 Aug 2010 20:36:28 +0000"),
        ("CallbackSource", "call-progress-events"),
        ("SipResponseCode", "200"),
        ("CallerState", "CA"),
        ("ToZip", "94105"),
        ("SequenceNumber", str(seq)),
        ("CallSid", sid),
        ("To", "+14155551212"),
        ("CallerZip", "94016"),
        ("ToCountry", "US"),
        ("CalledZip", "94105"),
        ("ApiVersion", "2010-04-01"),
        ("CalledCity", "SAN FRANCISCO"),
        ("CallStatus", "completed"),
        ("Duration", "1"),
        ("From", "+15005550006"),
        ("CallDuration", "49"),
        ("AccountSid", ACCOUNT_SID),
        ("CalledCountry", "US"),
        ("CallerCity", "SAN FRANCISCO"),
        ("ToCity", "SAN FRANCISCO"),
        ("FromCountry", "US"),
        ("Caller", "+15005550006"),
        ("FromCity", "SAN FRANCISCO"),
        ("CalledState", "CA"),
        ("FromZip", "94016"),
        ("FromState", "CA"),
        ("AnsweredBy", "human"),
        ("StirStatus", "A"),
        ("CallerName", "São Paulo Office"),
        ("ForwardedFrom", ""),
        ("ParentCallSid", "CA" + uuid.uuid4().hex),
        (
            "RecordingUrl",
            "https://api.twilio.com/2010-04-01/Accounts/"
            + ACCOUNT_SID
            + "/Recordings/RE"
            + "0" * 32,
        ),
        ("RecordingSid", "RE" + "0" * 32),
        ("RecordingDuration", "48"),
    ]


def make_requests(n: int, path: Path) -> int:
    """Write ``n`` signed callbacks as ``signature<TAB>body`` lines; return the body size."""
    from twilio.request_validator import RequestValidator

    from ingest.signature import MultiParams

    validator = RequestValidator(AUTH_TOKEN)
    url = PUBLIC + PATH
    size = 0
    with open(path, "w") as f:
        for i in range(n):
            pairs = callback_pairs("CA" + uuid.uuid4().hex, i % 4)
            body = "&".join(quote_plus(k) + "=" + quote_plus(v) for k, v in pairs)
            sig = validator.compute_signature(url, MultiParams.from_pairs(pairs))
            f.write(f"{sig}\t{body}\n")
            size = len(body)
    return size


WRK_LUA = r"""
local reqs = {}
local n = 0
local i = 0
init = function(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    local sig, body = line:match("([^\t]*)\t(.*)")
    n = n + 1
    reqs[n] = wrk.format("POST", "/twilio/status",
      {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = sig},
      body)
  end
  f:close()
end
request = function()
  i = i % n + 1
  return reqs[i]
end
"""

# --------------------------------------------------------------------------- servers


def serve(
    variant: str, port: int, bootstrap: str, prefix: str, spool: str, workers: int = 0
) -> None:
    """``workers`` 0: one process, the app under ``uvicorn.run``; N >= 1: bare under
    uvicorn's own ``workers=N``, ingest as ``callstream ingest --workers N`` (its
    supervisor, N worker processes, the service's own server)."""
    import uvicorn

    from callstream.settings import Settings

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CALLSTREAM_KAFKA_PROFILE": "tansu",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CALLSTREAM_PUBLIC_URL": PUBLIC,
        "CALLSTREAM_SPOOL": spool,
        "CALLSTREAM_TOPIC_PREFIX": prefix,
        "CALLSTREAM_LOG_LEVEL": "WARNING",
    }
    settings = Settings.from_env(env=env)
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": "warning",
        "access_log": False,
    }
    if workers and variant == "ingest":
        from ingest.workers import run_workers

        os.environ.update(env)  # the workers read their settings from the environment
        run_workers(settings, "127.0.0.1", port, workers)
        return
    if workers and variant == "bare":
        uvicorn.run("benchmarks.ingest:bare_app", factory=True, workers=workers, **options)
        return
    if variant == "bare":
        app = bare_app()
    elif variant == "naive":
        app = naive_app(settings)
    elif variant == "ingest":
        from callstream import logs
        from ingest.bootstrap import create_app

        logs.configure("ingest", "WARNING")
        # an experiment knob: the ingest producer's linger (ingest's default is 1 ms)
        linger = os.environ.get("BENCH_INGEST_LINGER_MS")
        app = create_app(settings, producer_options={"linger_ms": int(linger)} if linger else None)
    else:
        raise SystemExit(f"unknown variant {variant}")
    uvicorn.run(app, lifespan="on", **options)


def bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def status(request: Request) -> Response:
        await request.form()
        return Response(status_code=204)

    return Starlette(routes=[Route(PATH, status, methods=["POST"])])


def naive_app(settings: Any) -> Any:
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from twilio.request_validator import RequestValidator

    from callstream import envelope, kafka_clients, timefmt, topics

    validator = RequestValidator(AUTH_TOKEN)
    topic = settings.topic(topics.CALL_STATUS)
    state: dict[str, Any] = {}

    async def status(request: Request) -> Response:
        form = await request.form()
        url = PUBLIC + request.url.path
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return Response(status_code=403)
        params = [[k, str(v)] for k, v in form.multi_items()]
        value = envelope.encode(timefmt.now_iso(), "POST", url, params, None)
        key = str(form["CallSid"]).encode()
        await run_in_threadpool(lambda: state["p"].send(topic, key=key, value=value).get(10))
        return Response(status_code=204)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        state["p"] = kafka_clients.make_producer(settings, "bench-naive")
        yield
        state["p"].close(5)

    return Starlette(routes=[Route(PATH, status, methods=["POST"])], lifespan=lifespan)


class Server:
    def __init__(
        self, variant: str, bootstrap: str, prefix: str, spool: str, workers: int = 0
    ) -> None:
        from callstream.broker import free_port

        self.variant = variant
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "serve",
                variant,
                "--port",
                str(self.port),
                "--bootstrap",
                bootstrap,
                "--prefix",
                prefix,
                "--spool",
                spool,
                "--workers",
                str(workers),
            ],
            stdin=subprocess.DEVNULL,
        )
        import httpx

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"{variant} did not start")

    def cpu_s(self) -> float:
        """CPU of the server and of its worker processes, if any."""
        return sum(cpu_seconds(p) for p in process_tree(self.proc.pid))

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident set size in MiB."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        cur = int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
        peak = int(re.search(r"VmHWM:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
        return cur / 1024, peak / 1024

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the task ended meanwhile
                todo += [int(c) for c in task.read_text().split()]
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- load


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk not found; installing it with apt-get", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=False)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is needed: apt-get install wrk (or brew install wrk)")
    return path


def run_wrk(
    wrk: str, url: str, script: Path, data: Path, duration: int, conns: int
) -> dict[str, float]:
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{conns}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
            "--",
            str(data),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, float]:
    """req/s, p50 and p99 (ms), non-2xx answers and whether there were socket errors, from
    wrk's ``--latency`` report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {p: _ms(v, u) for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": lat.get("50", float("nan")),
        "p99": lat.get("99", float("nan")),
        "non2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def _ms(v: str, unit: str) -> float:
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def fixed_rate(
    url: str, data: Path, rate: float, duration: float, conns: int = 16
) -> dict[str, float]:
    """Open loop: request k is due at t0 + k/rate; latency counts from when it was due."""
    host, port = url.removeprefix("http://").split(":")
    lines = data.read_text().splitlines()
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(await asyncio.open_connection(host, int(port)))
    lat: list[float] = []
    errors = 0

    async def one(k: int, due: float) -> None:
        nonlocal errors
        sig, body = lines[k % len(lines)].split("\t", 1)
        req = (
            f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {sig}\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
        r, w = await pool.get()
        try:
            w.write(req)
            head = await r.readuntil(b"\r\n\r\n")
            m = re.search(rb"content-length: (\d+)", head, re.I)
            if m:
                await r.readexactly(int(m.group(1)))
            if not head.startswith(b"HTTP/1.1 204"):
                errors += 1
            lat.append((time.perf_counter() - due) * 1000)
        finally:
            pool.put_nowait((r, w))

    n = int(rate * duration)
    t0 = time.perf_counter() + 0.1
    tasks = []
    for k in range(n):
        due = t0 + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(k, due)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, w = pool.get_nowait()
        w.close()
    lat.sort()
    return {"p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99)], "errors": errors}


def ceiling(settings: Any, data: Path, n: int) -> float:
    """Records/s of kafka-python alone: the same envelopes, futures + flush()."""
    from callstream import envelope, kafka_clients, timefmt, topics
    from ingest.callback import parse_pairs

    topic = settings.topic(topics.CALL_STATUS)
    records = []
    for line in data.read_text().splitlines()[:n]:
        _, body = line.split("\t", 1)
        params = parse_pairs(body.encode())
        sid = next(v for k, v in params if k == "CallSid")
        records.append(
            (
                sid.encode(),
                envelope.encode(timefmt.now_iso(), "POST", PUBLIC + PATH, params, None),
            )
        )
    producer = kafka_clients.make_producer(settings, "bench-ceiling")
    producer.partitions_for(topic)
    t = time.perf_counter()
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    elapsed = time.perf_counter() - t
    producer.close(5)
    return len(records) / elapsed


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rate", type=float, default=200.0, help="fixed-rate client, requests/s")
    ap.add_argument("--rate-duration", type=float, default=10.0)
    ap.add_argument("--requests", type=int, default=60000, help="distinct signed callbacks")
    ap.add_argument("--skip-spool", action="store_true")
    ap.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="SECONDS",
        help="also run ingest alone under wrk this long, sampling its RSS",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    from kafka.record.util import crc32c_c

    from callstream import kafka_clients
    from callstream.broker import EmbeddedBroker
    from callstream.settings import Settings

    wrk = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    data, script = tmp / "requests.tsv", tmp / "replay.lua"
    script.write_text(WRK_LUA)
    size = make_requests(args.requests, data)
    print(
        f"{args.requests} signed callbacks of ~{size} bytes; crc32c C extension: "
        f"{crc32c_c is not None}; cores: {os.cpu_count()}",
        flush=True,
    )

    broker = EmbeddedBroker()
    broker.start()
    assert broker.proc is not None
    broker_pid = broker.proc.pid

    def settings_for(prefix: str, bootstrap: str | None = None) -> Settings:
        s = Settings.from_env(
            env={},
            kafka_bootstrap_servers=bootstrap or broker.bootstrap,
            kafka_profile="tansu",
            topic_prefix=prefix,
        )
        return s

    results: dict[str, list[dict[str, float]]] = {"bare": [], "naive": [], "ingest": []}
    fixed: dict[str, list[dict[str, float]]] = {"bare": [], "naive": [], "ingest": []}
    ceilings: list[float] = []
    rss: dict[str, tuple[float, float]] = {}
    try:
        for rep in range(args.reps):
            for variant in ("bare", "naive", "ingest"):
                prefix = f"b{uuid.uuid4().hex[:8]}."
                kafka_clients.ensure_topics(settings_for(prefix))
                server = Server(variant, broker.bootstrap, prefix, str(tmp / f"spool-{prefix}db"))
                try:
                    run_wrk(wrk, server.url, script, data, 2, args.connections)  # warm-up
                    cpu0, bcpu0 = server.cpu_s(), cpu_seconds(broker_pid)
                    r = run_wrk(wrk, server.url, script, data, args.duration, args.connections)
                    n = r["rps"] * args.duration
                    r["server_us_per_req"] = (server.cpu_s() - cpu0) / n * 1e6
                    r["broker_us_per_req"] = (cpu_seconds(broker_pid) - bcpu0) / n * 1e6
                    f = asyncio.run(fixed_rate(server.url, data, args.rate, args.rate_duration))
                    if variant == "ingest":
                        rss["ingest"] = server.rss_mb()
                finally:
                    server.stop()
                results[variant].append(r)
                fixed[variant].append(f)
                print(
                    f"rep {rep + 1} {variant:6s} {r['rps']:8.0f} req/s  p50 {r['p50']:6.2f} ms  "
                    f"cpu/req server {r['server_us_per_req']:4.0f} us "
                    f"broker {r['broker_us_per_req']:3.0f} us  "
                    f"p99 {r['p99']:6.2f} ms  non-2xx {r['non2xx']:.0f}  |  "
                    f"at {args.rate:.0f}/s: "
                    f"p50 {f['p50']:.2f} ms p99 {f['p99']:.2f} ms errors {f['errors']:.0f}",
                    flush=True,
                )
            prefix = f"c{uuid.uuid4().hex[:8]}."
            s = settings_for(prefix)
            kafka_clients.ensure_topics(s)
            ceilings.append(ceiling(s, data, min(args.requests, 50000)))
            print(f"rep {rep + 1} ceiling {ceilings[-1]:8.0f} records/s", flush=True)

        keys = ("rps", "p50", "p99", "server_us_per_req", "broker_us_per_req")
        med = {
            v: {k: statistics.median(r[k] for r in rs) for k in keys} for v, rs in results.items()
        }

        def ratio(a: str, b: str) -> float:
            pairs = zip(results[a], results[b], strict=True)
            return statistics.median(x["rps"] / y["rps"] for x, y in pairs)

        per_rep = {"ingest/bare": ratio("ingest", "bare"), "ingest/naive": ratio("ingest", "naive")}
        medf = {
            v: {k: statistics.median(r[k] for r in rs) for k in ("p50", "p99")}
            for v, rs in fixed.items()
        }
        ceil = statistics.median(ceilings)
        print()
        print(f"medians of {args.reps} (wrk -t1 -c{args.connections} -d{args.duration}s):")
        for v in ("bare", "naive", "ingest"):
            print(
                f"  {v:8s} {med[v]['rps']:8.0f} req/s  p50 {med[v]['p50']:.2f} ms  "
                f"p99 {med[v]['p99']:.2f} ms  | {args.rate:.0f}/s: p50 {medf[v]['p50']:.2f} ms  "
                f"p99 {medf[v]['p99']:.2f} ms  | CPU per request: server "
                f"{med[v]['server_us_per_req']:.0f} us, "
                f"broker {med[v]['broker_us_per_req']:.0f} us"
            )
        print(f"  ceiling  {ceil:8.0f} records/s")
        print(f"  ingest / bare  = {med['ingest']['rps'] / med['bare']['rps']:.2f}")
        print(f"  ingest / naive = {med['ingest']['rps'] / med['naive']['rps']:.2f}")
        print(f"  ingest / ceiling = {med['ingest']['rps'] / ceil:.2f}")
        print(
            f"  median of per-repetition ratios: ingest/bare {per_rep['ingest/bare']:.2f}, "
            f"ingest/naive {per_rep['ingest/naive']:.2f}"
        )
        cpu_b, cpu_n, cpu_i = (med[v]["server_us_per_req"] for v in ("bare", "naive", "ingest"))
        print(
            f"  server CPU per request, bare/ingest = {cpu_b / cpu_i:.2f}, "
            f"naive/ingest = {cpu_n / cpu_i:.2f} (throughput each would reach on a core "
            "of its own, relative to ingest)"
        )
        if "ingest" in rss:
            print(
                f"  ingest RSS after its last run: {rss['ingest'][0]:.0f} MiB "
                f"(peak {rss['ingest'][1]:.0f} MiB)"
            )
        out: dict[str, Any] = {
            "median": med,
            "fixed_rate_median": medf,
            "ceiling": ceil,
            "per_rep_ratio_median": per_rep,
            "runs": results,
            "fixed_runs": fixed,
            "ceilings": ceilings,
            "rss_mb": rss,
        }
        if not args.skip_spool:
            out["spool"] = spool_bench(wrk, script, data, args, tmp, settings_for)
        if args.soak:
            out["soak"] = soak(wrk, script, data, args, tmp, settings_for, broker.bootstrap)
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
    finally:
        broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def spool_bench(
    wrk: str, script: Path, data: Path, args: Any, tmp: Path, settings_for: Any
) -> dict[str, float]:
    """Broker down: callbacks/s into the spool; then the drain rate once it is back."""
    from callstream import kafka_clients
    from callstream.broker import EmbeddedBroker, free_port

    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    prefix = f"s{uuid.uuid4().hex[:8]}."
    server = Server("ingest", bootstrap, prefix, str(tmp / "spool-bench.db"))
    try:
        r = run_wrk(wrk, server.url, script, data, args.duration, args.connections)
        depth = _depth(server.url)
        print(
            f"spool: {r['rps']:.0f} callbacks/s into the spool (broker down), p50 "
            f"{r['p50']:.2f} ms p99 {r['p99']:.2f} ms; depth {depth:.0f}",
            flush=True,
        )
        broker = EmbeddedBroker(port=port)
        broker.start()
        try:
            kafka_clients.ensure_topics(settings_for(prefix, bootstrap))
            t_first: float | None = None
            first_depth = start_depth = depth
            while True:
                d = _depth(server.url)
                now = time.perf_counter()
                if t_first is None and d < start_depth:
                    t_first, first_depth = now, d
                if d == 0:
                    break
                time.sleep(0.05)
            assert t_first is not None
            drain = first_depth / max(now - t_first, 1e-6)
            print(
                f"spool: drained {start_depth:.0f} callbacks at {drain:.0f} callbacks/s", flush=True
            )
        finally:
            server.stop()
            broker.kill()
    finally:
        if server.proc.poll() is None:
            server.stop()
    return {
        "into_spool_rps": r["rps"],
        "into_spool_p99": r["p99"],
        "drain_rps": drain,
        "depth": depth,
    }


def soak(
    wrk: str, script: Path, data: Path, args: Any, tmp: Path, settings_for: Any, bootstrap: str
) -> dict[str, float]:
    """Ingest alone under wrk for ``--soak`` seconds; its RSS sampled every second."""
    import threading

    from callstream import kafka_clients

    prefix = f"k{uuid.uuid4().hex[:8]}."
    kafka_clients.ensure_topics(settings_for(prefix))
    server = Server("ingest", bootstrap, prefix, str(tmp / "spool-soak.db"))
    peak = 0.0
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(1.0):
            cur, hwm = server.rss_mb()
            samples.append(cur)
            peak = max(peak, hwm)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        r = run_wrk(wrk, server.url, script, data, args.soak, args.connections)
        done.set()
        t.join()
        total = r["rps"] * args.soak
        cur, hwm = server.rss_mb()
    finally:
        server.stop()
    print(
        f"soak: {total:.0f} callbacks in {args.soak} s ({r['rps']:.0f}/s); ingest RSS "
        f"{samples[0] if samples else cur:.0f} MiB after 1 s, {cur:.0f} MiB at the end, "
        f"peak {max(peak, hwm):.0f} MiB",
        flush=True,
    )
    return {
        "callbacks": total,
        "rss_first_mb": samples[0] if samples else cur,
        "rss_end_mb": cur,
        "rss_peak_mb": max(peak, hwm),
    }


def _depth(url: str) -> float:
    import httpx

    text = httpx.get(url + "/metrics", timeout=10).text
    return float(re.search(r"^callstream_ingest_spool_depth ([\d.e+]+)$", text, re.M).group(1))  # type: ignore[union-attr]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sp = argparse.ArgumentParser()
        sp.add_argument("cmd")
        sp.add_argument("variant")
        sp.add_argument("--port", type=int, required=True)
        sp.add_argument("--bootstrap", required=True)
        sp.add_argument("--prefix", required=True)
        sp.add_argument("--spool", required=True)
        sp.add_argument("--workers", type=int, default=0)
        a = sp.parse_args()
        serve(a.variant, a.port, a.bootstrap, a.prefix, a.spool, a.workers)
    else:
        main()
