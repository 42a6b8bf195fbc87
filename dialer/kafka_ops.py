"""The dialer's topics, the Kafka operations it retries until they succeed (the broker may
be restarting), and its one produce-and-wait."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from callstream import kafka_clients, topics
from callstream.settings import Settings

log = logging.getLogger("callstream.dialer")
T = TypeVar("T")

SEND_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Topics:
    """The dialer's topic names, with the settings' prefix."""

    requests: str
    ledger: str
    outcomes: str
    dead: str

    @classmethod
    def of(cls, settings: Settings) -> Topics:
        return cls(
            settings.topic(topics.DIALER_REQUESTS),
            settings.topic(topics.DIALER_LEDGER),
            settings.topic(topics.DIALER_OUTCOMES),
            settings.topic(topics.DIALER_DEAD_LETTER),
        )

    def all(self) -> tuple[str, str, str, str]:
        """Requests first: the others must have at least as many partitions."""
        return (self.requests, self.ledger, self.outcomes, self.dead)


class Stopped(Exception):
    """Raised inside the loop when a stop was requested while waiting on Kafka."""


class Retrier:
    """Runs Kafka operations until they succeed, backing off, until a stop is requested."""

    def __init__(self, stop_event: threading.Event) -> None:
        self.stop_event = stop_event

    def sleep(self, seconds: float) -> None:
        """Sleep, unless a stop is requested meanwhile (then raise :class:`Stopped`)."""
        if seconds > 0 and self.stop_event.wait(seconds):
            raise Stopped

    def run(self, fn: Callable[[], T]) -> T:
        delay = 0.2
        while True:
            try:
                return fn()
            except Exception as e:
                if self.stop_event.is_set():
                    raise Stopped from e
                log.warning("kafka operation failed; retrying", extra={"error": str(e)})
                self.sleep(delay)
                delay = min(delay * 2, 5.0)

    def produce(
        self, producer: Any, topic: str, value: bytes, key: bytes | None, partition: int
    ) -> Any:
        """Write one record to an explicit partition and wait until the broker has it
        (acks=all); returns its metadata (``offset``)."""
        return self.run(
            lambda: kafka_clients.produce_and_wait(
                producer, topic, value, key, timeout_s=SEND_TIMEOUT_S, partition=partition
            )
        )
