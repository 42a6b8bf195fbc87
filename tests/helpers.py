"""Small helpers shared by tests: waiting on conditions, reading topics, signing callbacks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition

from callstream import kafka_clients
from callstream.settings import Settings

T = TypeVar("T")

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test_auth_token_0123456789abcdef"
OTHER_ACCOUNT_SID = "AC" + "f" * 32


def wait_until(
    pred: Callable[[], T], timeout: float = 20.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``pred`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or pred}; last={last!r}")


def read_topic(
    settings: Settings,
    topic: str,
    expect: int | None = None,
    timeout: float = 20.0,
    idle: float = 1.0,
) -> list[Any]:
    """All records of ``topic`` from the beginning (assign(), no group).

    With ``expect``, read until that many records arrived (fail after ``timeout``); without,
    read until no record arrived for ``idle`` seconds after the high watermarks were reached.
    """
    c: KafkaConsumer = kafka_clients.make_consumer(
        settings,
        kafka_clients.TANSU,
        client_id="test-reader",
        fetch_max_wait_ms=50,
    )
    try:
        parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = c.poll(timeout_ms=100)
            for recs in batch.values():
                out.extend(recs)
            if batch:
                last_new = time.monotonic()
            if expect is not None and len(out) >= expect:
                break
            if expect is None and time.monotonic() - last_new > idle:
                break
        if expect is not None and len(out) < expect:
            raise AssertionError(f"{topic}: expected {expect} records, got {len(out)}")
        return out
    finally:
        c.close()


class ServedApp:
    """An ASGI app served by uvicorn in a background thread on a free loopback port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None) -> None:
        import threading

        import uvicorn

        from callstream.broker import free_port

        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        cfg = uvicorn.Config(
            app, host=host, port=self.port, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServedApp:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=10, what="uvicorn start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
