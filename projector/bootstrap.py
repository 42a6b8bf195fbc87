"""The projector's one wiring point: from settings to a store, a consumer loop and an API
process, ready to run.

Every way of starting the projector goes through :func:`build`, which also checks what it
needs before anything runs: the database first (a wrong file is refused at once, whatever
the broker does), then the broker (an absent one is one line with a hint, not a silent
wait). Each failure is a :class:`~callstream.errors.StartupError` (a bad or missing setting
is its kind :class:`~callstream.settings.SettingsError`), which the CLI prints as one line.

The projector's ports, and what a test passes instead (:class:`Ports`): the records source
(a kafka-python consumer; any object with its methods), the clock, and the API process (any
object with ``start()`` and ``stop()``). With a consumer passed in, no broker is probed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from callstream import kafka_clients, topics
from callstream.errors import StartupError
from callstream.kafka_clients import BrokerProfile
from callstream.settings import Settings
from projector import gctune
from projector.cache import CallCache
from projector.consumer import SYSTEM_CLOCK, Clock, Projector
from projector.progress import Progress
from projector.store import Store


class Api(Protocol):
    def start(self) -> None: ...
    def stop(self) -> object: ...


# (database, host, port, the consumer's progress, called with a reason when the API dies)
ApiFactory = Callable[[Path, str, int, Progress, Callable[[str], None]], Api]


def api_process(
    db: Path, host: str, port: int, progress: Progress, on_exit: Callable[[str], None]
) -> Api:
    """The real API: ``python -m projector.api_process``, a child process."""
    from projector.api_process import ApiProcess

    return ApiProcess(db, host, port, progress, on_exit=on_exit)


@dataclass
class Ports:
    """What the projector talks to; the defaults are the real ones."""

    consumer: Callable[[], Any] | None = None  # None: a KafkaConsumer from the settings
    clock: Clock = SYSTEM_CLOCK
    api: ApiFactory = api_process
    profile: BrokerProfile | None = None  # None: the settings', or asked of the broker


@dataclass
class Wiring:
    """A projector ready to run: :func:`projector.service.run_service` runs it."""

    db: Path
    store: Store
    projector: Projector
    api: Api
    fatal: str | None = None

    def api_died(self, reason: str) -> None:
        """The API process ended by itself: the projector stops too, with the reason."""
        self.fatal = reason
        self.projector.stop()


def open_store(settings: Settings, db: Path | None = None) -> Store:
    """The projector's database, opened (created, or upgraded) for writing."""
    from projector.schema import SchemaError

    path = settings.db if db is None else db
    gctune.tune()  # the process that opens the store for writing is the writer
    try:
        return Store(
            path, settings.topic(topics.CALL_STATUS), CallCache(settings.projector_cache_calls)
        )
    except SchemaError as e:
        raise StartupError(str(e)) from None
    except sqlite3.Error as e:  # e.g. a read-only or full file system
        raise StartupError(f"cannot use the database {path}: {e}") from None


def broker_profile(settings: Settings) -> BrokerProfile:
    """Check that the broker answers and tell which kind it is."""
    from kafka.errors import KafkaError

    from callstream.reach import hint, require_broker

    bootstrap = kafka_clients.bootstrap(settings)
    try:
        require_broker(bootstrap)
        return kafka_clients.detect_profile(settings)
    except KafkaError as e:
        raise StartupError(f"{hint(bootstrap)} ({type(e).__name__}: {e})") from None


def build(
    settings: Settings, host: str, port: int, db: Path | None = None, ports: Ports | None = None
) -> Wiring:
    """The projector of ``settings`` (its database ``db`` when given), serving on
    ``host:port``; raise :class:`StartupError` when it cannot start."""
    ports = ports or Ports()
    if ports.consumer is None:
        kafka_clients.bootstrap(settings)  # one clear line when no broker is configured
    path = settings.db if db is None else db
    store = open_store(settings, path)
    try:
        profile = ports.profile
        if profile is None and ports.consumer is None:
            profile = broker_profile(settings)
    except BaseException:
        store.close()
        raise
    # the profile only tunes the real consumer; an in-memory one has none
    projector = Projector(
        settings, store, profile or kafka_clients.TANSU, consumer=ports.consumer, clock=ports.clock
    )

    def api_died(reason: str) -> None:
        wiring.api_died(reason)

    wiring = Wiring(
        path, store, projector, ports.api(path, host, port, projector.progress, api_died)
    )
    return wiring
