"""A small open-loop HTTP/1.1 load generator for the benchmarks.

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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


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
