"""In-memory fakes for ingest's ports (``ingest.bootstrap``), and an in-process ASGI client:
the whole app (routes, publisher, spool) runs with no broker, no socket and no thread
beyond the publisher's own executors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka.errors import MessageSizeTooLargeError
from starlette.applications import Starlette

from callstream.settings import Settings
from ingest.bootstrap import create_app
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN

PUBLIC = "https://hooks.example.com"
AT = "2026-11-25T12:00:00.000001Z"  # the fake clock's received_at


class FakeFuture:
    """kafka-python's ``FutureRecordMetadata`` as far as the publisher uses it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._errbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.outcome: tuple[bool, Any] | None = None

    def add_callback(self, f: Callable[..., Any], *args: Any) -> None:
        self._add(self._callbacks, True, f, args)

    def add_errback(self, f: Callable[..., Any], *args: Any) -> None:
        self._add(self._errbacks, False, f, args)

    def _add(self, to: list[Any], ok: bool, f: Callable[..., Any], args: tuple[Any, ...]) -> None:
        with self._lock:
            if self.outcome is None:
                to.append((f, args))
                return
        if self.outcome[0] == ok:
            f(*args, self.outcome[1])

    def succeed(self, offset: int) -> None:
        self._settle(True, offset)

    def fail(self, exc: BaseException) -> None:
        self._settle(False, exc)

    def _settle(self, ok: bool, value: Any) -> None:
        with self._lock:
            self.outcome = (ok, value)
            todo = self._callbacks if ok else self._errbacks
        for f, args in todo:
            f(*args, value)


@dataclass
class FakeProducer:
    """Acknowledges each record at once (``mode="ack"``), never (``"hold"``), or fails it
    with ``error`` (``"fail"``). ``records`` holds what was acknowledged, in order."""

    mode: str = "ack"
    error: BaseException | None = None
    records: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    held: list[FakeFuture] = field(default_factory=list)
    closed: bool = False

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> FakeFuture:
        assert value is not None
        fut = FakeFuture()
        if self.mode == "ack":
            self.records.append((topic, key, value))
            fut.succeed(len(self.records) - 1)
        elif self.mode == "fail":
            assert self.error is not None
            fut.fail(self.error)
        else:
            self.held.append(fut)
        return fut

    def close(self, timeout: float | None = None) -> None:
        self.closed = True
        for fut in self.held:
            if fut.outcome is None:
                fut.fail(ConnectionError("producer closed"))


@dataclass
class FakeProducerFactory:
    """The Kafka port: hands out ``first`` producers in turn then ``producer`` while
    ``up``, raises ConnectionError while not (as
    :class:`ingest.producer_port.KafkaProducerFactory` does for a dead broker)."""

    producer: FakeProducer = field(default_factory=FakeProducer)
    first: list[FakeProducer] = field(default_factory=list)
    up: bool = True
    max_request_size: int = 1048576
    made: int = 0

    def __call__(self) -> FakeProducer:
        if not self.up:
            raise ConnectionError("no Kafka broker answers (fake)")
        self.made += 1
        return self.first.pop(0) if self.first else self.producer


def size_refusal() -> BaseException:
    """What kafka-python fails a record with when the broker refuses its size."""
    return MessageSizeTooLargeError("the broker refuses the record's size (fake)")


def unit_settings(tmp: Path, **extra: Any) -> Settings:
    """Complete settings whose broker address is never dialled (the port is faked)."""
    return Settings.from_env(
        env={},
        kafka_bootstrap_servers="127.0.0.1:1",
        kafka_profile="tansu",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_url=PUBLIC,
        spool=str(tmp / "spool.db"),
        topic_prefix="unit.",
        **extra,
    )


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class InProcess:
    """Requests into an ASGI app in this process (no socket)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        query: str = "",
    ) -> Answer:
        done = asyncio.Event()
        parts = [{"type": "http.request", "body": body, "more_body": False}]
        out: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            if parts:
                return parts.pop(0)
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
                out["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")
                if not message.get("more_body"):
                    done.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
        }
        await self.app(scope, receive, send)
        return Answer(out["status"], out.get("headers", {}), out["body"])


@asynccontextmanager
async def running_ingest(
    settings: Settings, factory: FakeProducerFactory, **options: Any
) -> AsyncIterator[tuple[Starlette, InProcess]]:
    """The ingest app from ``ingest.bootstrap`` with the fake port and a fixed clock,
    started (spool open, drain task running) and stopped around the block."""
    app = create_app(settings, producer_factory=factory, clock=lambda: AT, **options)
    async with app.router.lifespan_context(app):
        yield app, InProcess(app)


async def until(pred: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Wait (on the running loop, letting the publisher's tasks run) until ``pred()``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or pred}")
        await asyncio.sleep(0.01)
