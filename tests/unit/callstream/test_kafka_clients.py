"""callstream.kafka_clients without a broker: produce-and-wait, the producer settings."""

from __future__ import annotations

from typing import Any

import pytest

from callstream.kafka_clients import produce_and_wait, producer_config


class Sent:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.waited: float | None = None

    def get(self, timeout: float) -> Any:
        self.waited = timeout
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class Producer:
    def __init__(self, outcome: Any) -> None:
        self.sent: list[tuple[str, Any, Any, Any]] = []
        self.future = Sent(outcome)

    def send(self, topic: str, value: Any = None, key: Any = None, partition: Any = None) -> Sent:
        self.sent.append((topic, value, key, partition))
        return self.future


def test_produce_and_wait_returns_the_acknowledgement() -> None:
    p = Producer(outcome="metadata")
    got = produce_and_wait(p, "t", b"v", b"k", timeout_s=7, partition=2)  # type: ignore[arg-type]
    assert got == "metadata"
    assert p.sent == [("t", b"v", b"k", 2)] and p.future.waited == 7


def test_produce_and_wait_raises_what_the_send_failed_with() -> None:
    p = Producer(outcome=TimeoutError("no ack"))
    with pytest.raises(TimeoutError, match="no ack"):
        produce_and_wait(p, "t", b"v", timeout_s=1)  # type: ignore[arg-type]
    assert p.sent == [("t", b"v", None, None)]


def test_the_durable_producer_settings() -> None:
    cfg = producer_config(linger_ms=1)
    assert (cfg["acks"], cfg["enable_idempotence"], cfg["linger_ms"]) == ("all", True, 1)
