"""Load generation for the benchmarks: ``wrk`` paced by a schedule (``Paced``, used by
e2e and soak: C, about 1 % of a core at 200 requests/s), plain ``wrk`` runs (``Wrk``), and
a small Python open-loop HTTP/1.1 client (``open_loop``, ``closed_loop``: still used by
``loss_window.py``).

The Python client:

httpx's async pool costs more CPU per request than ingest does, and degrades when many
requests wait for a connection, so it cannot drive ingest at a few hundred requests per
second without becoming the bottleneck itself. This client keeps ``connections`` keep-alive
sockets, each served by one worker; a scheduler releases requests at a fixed rate (open
loop), and latency is measured from each request's *scheduled* time, so a stall anywhere
shows up in the figures instead of silently slowing the sender (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus, urlsplit


@dataclass
class Response:
    status: int
    body: bytes


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        reused = self.writer is not None
        try:
            return await self._request(method, path, body, headers)
        except (ConnectionError, asyncio.IncompleteReadError):
            if not reused:
                raise
            # the server closed an idle keep-alive connection (uvicorn: after 5 s): reconnect
            # and send once more, as any HTTP client does
            await self.close()
            return await self._request(method, path, body, headers)

    async def _request(
        self, method: str, path: str, body: bytes, headers: dict[str, str] | None
    ) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            await self.close()
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return Response(status, data)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def split(url: str) -> tuple[str, int]:
    u = urlsplit(url)
    return u.hostname or "127.0.0.1", u.port or 80


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds, from scheduled time
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    elapsed: float = 0.0


Request = tuple[str, str, bytes, dict[str, str]]


async def _send(conn: Connection, run: Run, req: Request, start: float) -> Response | None:
    """Send one request and record its status and its latency counted from ``start``; a
    connection failure counts as an error (the connection is reopened on the next send)."""
    method, path, body, headers = req
    try:
        resp = await conn.request(method, path, body, headers)
    except (OSError, ConnectionError, asyncio.IncompleteReadError):
        run.errors += 1
        await conn.close()
        return None
    run.latencies.append(time.perf_counter() - start)
    run.statuses[resp.status] = run.statuses.get(resp.status, 0) + 1
    return resp


async def open_loop(
    url: str,
    make: Callable[[int], Request],
    rate: float,
    count: int,
    connections: int = 32,
    after: Callable[[int, Response, float], Awaitable[None]] | None = None,
) -> Run:
    """Send ``count`` requests at ``rate`` per second; ``make(i)`` gives
    (method, path, body, headers); ``after(i, response, scheduled_at)`` runs per answer."""
    host, port = split(url)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    run = Run()

    async def worker() -> None:
        conn = Connection(host, port)
        while (item := await queue.get()) is not None:
            i, due = item
            resp = await _send(conn, run, make(i), due)
            if resp is not None and after is not None:
                await after(i, resp, due)
        await conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    t0 = time.perf_counter()
    for i in range(count):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    run.elapsed = time.perf_counter() - t0
    return run


async def closed_loop(
    url: str,
    make: Callable[[int], Request],
    seconds: float,
    connections: int = 32,
) -> Run:
    """As fast as the server answers, ``connections`` requests in flight, for ``seconds``."""
    host, port = split(url)
    run = Run()
    counter = iter(range(10**12))
    end = time.perf_counter() + seconds

    async def worker() -> None:
        conn = Connection(host, port)
        while time.perf_counter() < end:
            await _send(conn, run, make(next(counter)), time.perf_counter())
        await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    run.elapsed = time.perf_counter() - t0
    return run


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))] if xs else float("nan")


# ---------------------------------------------------------------- wrk, paced by a schedule
#
# The Python client above shares the machine's two cores with the server under test. For
# e2e and soak the load comes from wrk (C, one thread) instead. Debian's wrk has no ``-R``
# (fixed rate), so this Lua script paces it: before each request, ``delay()`` claims the
# next callback of the schedule and waits until its due time (CLOCK_MONOTONIC through
# LuaJIT's FFI, the clock Python's ``time.monotonic`` reads), then ``request()`` sends it.
# With ``-c N``, up to N callbacks are claimed at a time: a slow answer holds one
# connection, not the schedule, so the load stays open loop as long as fewer than N
# requests are outstanding, and any send that still ends up late is logged with how late
# it was (``k<TAB>seconds late`` per request), so the benchmark counts latency from the
# scheduled time and can show that the generator kept up.

PACED_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } cs_timespec;
int clock_gettime(int clk, cs_timespec *ts);
]]
local ts = ffi.new("cs_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
local reqs, dues = {}, {}
local n, claimed, sent = 0, 0, 0
local log
init = function(args)
  local t0 = tonumber(args[2])
  for line in io.lines(args[1]) do
    local due, sig, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
    n = n + 1
    dues[n] = t0 + tonumber(due)
    reqs[n] = wrk.format("POST", "/twilio/status",
      {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Twilio-Signature"] = sig},
      body)
  end
  log = assert(io.open(args[3], "w"))
end
delay = function()
  if claimed >= n then return 86400000 end  -- the schedule is done: idle until -d ends
  claimed = claimed + 1
  local wait = (dues[claimed] - now()) * 1000
  if wait <= 0 then return 0 end
  return math.ceil(wait)  -- never early
end
request = function()
  -- wrk calls request() once when the thread starts, before any delay(), and does not
  -- send that one: it must not take a callback of the schedule
  if claimed == 0 then return reqs[1] end
  sent = sent + 1
  local k = sent
  if k > n then k = n end
  log:write(k, "\t", string.format("%.6f", now() - dues[k]), "\n")
  if sent % 1000 == 0 or sent == n then log:flush() end
  return reqs[k]
end
"""


def write_signed(
    cbs: Iterable[tuple[float | None, list[list[str]]]], path: Path, public_url: str, token: str
) -> int:
    """Write each callback signed for ``public_url`` + /twilio/status as one line:
    ``due<TAB>signature<TAB>body`` (or ``signature<TAB>body`` when due is None, wrk's
    plain replay script). Returns the mean body size."""
    from twilio.request_validator import RequestValidator

    from ingest.signature import MultiParams

    validator = RequestValidator(token)
    url = public_url + "/twilio/status"
    total = n = 0
    with open(path, "w") as f:
        for due, params in cbs:
            pairs = [(k, v) for k, v in params]
            body = "&".join(quote_plus(k) + "=" + quote_plus(v) for k, v in pairs)
            sig = validator.compute_signature(url, MultiParams.from_pairs(pairs))
            f.write(f"{sig}\t{body}\n" if due is None else f"{due:.6f}\t{sig}\t{body}\n")
            total += len(body)
            n += 1
    return total // max(1, n)


@dataclass
class WrkRun:
    """What one wrk run reports, and its own CPU use."""

    wall_s: float
    cpu_s: float
    report: dict[str, float]
    late_s: list[float] = field(default_factory=list)  # per paced send: how late it left

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.wall_s


class Wrk:
    """wrk (one thread) as a child process; ``wait()`` gives its report and its rusage."""

    def __init__(
        self, url: str, script: str, args: list[str], seconds: float, conns: int, work: Path
    ) -> None:
        self.work = work
        lua = work / f"wrk-{uuid.uuid4().hex[:6]}.lua"
        lua.write_text(script)
        self.out = tempfile.TemporaryFile("w+")  # noqa: SIM115
        from benchmarks.ingest_wrk import find_wrk

        cmd = [find_wrk(), "-t1", f"-c{conns}", f"-d{max(1, math.ceil(seconds))}s"]
        cmd += ["--timeout", "30s", "--latency", "-s", str(lua), url, "--", *args]
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT)

    def wait(self) -> WrkRun:
        try:
            _, status, ru = os.wait4(self.proc.pid, 0)
        except BaseException:  # Ctrl-C: wrk must not outlive the benchmark
            self.proc.kill()
            self.proc.wait()
            raise
        wall = time.perf_counter() - self.t0
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.out.seek(0)
        text = self.out.read()
        self.out.close()
        if self.proc.returncode != 0:
            raise SystemExit(f"wrk failed ({self.proc.returncode}): {text.strip()}")
        from benchmarks.ingest import parse_wrk

        return WrkRun(wall, ru.ru_utime + ru.ru_stime, parse_wrk(text))


class Paced(Wrk):
    """wrk sending ``requests`` (``due<TAB>signature<TAB>body`` lines) at their due times,
    counted from ``lead`` seconds from now (``start_at``, on ``time.monotonic``'s clock);
    it runs ``seconds`` past that. ``wait()`` adds each send's lateness."""

    def __init__(
        self, url: str, requests: Path, seconds: float, conns: int, work: Path, lead: float
    ) -> None:
        self.start_at = time.monotonic() + lead
        self.sent_log = work / f"sent-{uuid.uuid4().hex[:6]}.tsv"
        args = [str(requests), f"{self.start_at:.6f}", str(self.sent_log)]
        super().__init__(url, PACED_LUA, args, lead + seconds, conns, work)

    def wait(self) -> WrkRun:
        run = super().wait()
        run.late_s = lateness(self.sent_log)
        return run


def lateness(log: Path) -> list[float]:
    """Per paced send, seconds after its due time that wrk sent it (from the send log)."""
    out = []
    with open(log) as f:
        for line in f:
            _, _, late = line.partition("\t")
            out.append(float(late))
    return out


def tree(pid: int) -> list[int]:
    """A process and its descendants (the broker wrapper runs Tansu as a child), from
    /proc (Linux); processes that exit meanwhile are left out."""
    out = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out += tree(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants."""
    total = 0.0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants, MiB."""
    total = 0.0
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total
