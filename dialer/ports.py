"""The dialer's ports, the outside things the loop talks to, and their real adapters.

* :class:`Clock` - monotonic time for pacing, wall time for the ledger, short sleeps.
* :class:`KafkaClients` - the producer, the group consumer of ``dialer.requests`` and the
  consumer that reads ledger partitions (kafka-python's clients in production).
* the Twilio API is :class:`dialer.twilio_api.CallsApi`.

:func:`dialer.bootstrap.build` takes an in-memory fake for any of them.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from callstream import kafka_clients as ck
from callstream.settings import Settings


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class KafkaClients(Protocol):
    """Opens the loop's Kafka clients (kafka-python's interfaces: ``send().get()``,
    ``poll``, ``subscribe``, ``assign``, ``seek``, ``pause``, ``commit``...)."""

    def producer(self, client_id: str) -> Any: ...

    def group_consumer(self, client_id: str, group_id: str) -> Any: ...

    def reader_consumer(self, client_id: str) -> Any: ...


class BrokerClients:
    """kafka-python clients for the configured broker."""

    def __init__(self, settings: Settings, profile: ck.BrokerProfile) -> None:
        self.settings = settings
        self.profile = profile

    def producer(self, client_id: str) -> Any:
        return ck.make_producer(self.settings, client_id, linger_ms=0)

    def group_consumer(self, client_id: str, group_id: str) -> Any:
        return ck.make_consumer(
            self.settings,
            self.profile,
            client_id=client_id,
            group_id=group_id,
            max_poll_records=100,
            max_poll_interval_ms=120000,
        )

    def reader_consumer(self, client_id: str) -> Any:
        return ck.make_consumer(self.settings, self.profile, client_id=client_id)
