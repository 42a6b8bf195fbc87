"""The one place the reconciler is wired: settings checked, ports chosen, the loop built.

:func:`build` takes a fake for any port (the Twilio API, the Kafka clients, the clock) and
builds the real adapter for the others. :func:`for_service` is what ``callstream
reconciler`` runs: it also checks that the broker answers, the health port is free and the
options are sane, and raises a :class:`callstream.errors.StartupError` (one line, exit 2)
when they are not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callstream import kafka_clients as ck
from callstream.cliargs import require_free_port
from callstream.reach import require_broker
from callstream.settings import Settings, SettingsError
from callstream.subaccounts import AccountBook, book_for
from reconciler.loop import KafkaClients, Reconciler
from reconciler.policy import Policy
from reconciler.state import State
from reconciler.twilio_rest import CallsApi, TwilioRest


@dataclass(frozen=True)
class ServiceOptions:
    """What ``callstream reconciler``'s flags say beyond the settings."""

    host: str
    port: int
    state: Path = Path("callstream-reconciler.db")
    rate: float = 5.0
    max_attempts: int = 8
    http_timeout_s: float = 15.0
    broker_source: str = "KAFKA_BOOTSTRAP_SERVERS"


def credentials(book: AccountBook) -> Callable[[str], tuple[str, str] | None]:
    """Account SID -> the credentials its REST requests use: the account's own SID and
    token, from the accounts file, the ``TWILIO_*`` shortcut, or (for a subaccount) the
    listing of its parent's subaccounts, which carries the subaccount's token. An unknown
    SID costs at most one rate-limited listing (:meth:`AccountBook.lookup`)."""

    def lookup(account_sid: str) -> tuple[str, str] | None:
        acct = book.lookup(account_sid)
        return None if acct is None else (acct.sid, acct.auth_token)

    return lookup


class BrokerClients:
    """kafka-python clients for the configured broker."""

    def __init__(self, settings: Settings, profile: ck.BrokerProfile) -> None:
        self.settings = settings
        self.profile = profile

    def consumer(self, client_id: str) -> Any:
        return ck.make_consumer(self.settings, self.profile, client_id=client_id)

    def producer(self, client_id: str) -> Any:
        return ck.make_producer(self.settings, client_id, linger_ms=0)


def build(
    settings: Settings,
    opts: ServiceOptions,
    *,
    profile: ck.BrokerProfile | None = None,
    api: CallsApi | None = None,
    clients: KafkaClients | None = None,
    clock: Callable[[], float] | None = None,
    book: AccountBook | None = None,
) -> Reconciler:
    """A reconciler for ``settings``. Without ``clients``, kafka-python clients for the
    broker, whose ``profile`` is then needed; without ``api``, twilio-python against
    ``TWILIO_API_URL``."""
    if api is None:
        if book is None:
            book = book_for(settings)
        api = TwilioRest(credentials(book), settings.twilio_api_url, opts.http_timeout_s)
    if clients is None:
        if profile is None:
            raise ValueError("the broker profile is needed to build Kafka clients")
        clients = BrokerClients(settings, profile)
    policy = Policy(after=settings.reconcile_after, max_attempts=opts.max_attempts)
    state = State(opts.state)
    extra: dict[str, Any] = {} if clock is None else {"clock": clock}
    return Reconciler(settings, api, clients, state, policy, rate=opts.rate, **extra)


def check_options(opts: ServiceOptions) -> None:
    if not (math.isfinite(opts.rate) and 0 < opts.rate <= 100):
        raise SettingsError("--rate must be above 0 and at most 100 requests per second")
    if not 1 <= opts.max_attempts <= 100:
        raise SettingsError("--max-attempts must be between 1 and 100")
    if not (math.isfinite(opts.http_timeout_s) and 0 < opts.http_timeout_s <= 300):
        raise SettingsError("--http-timeout must be above 0 and at most 300 seconds")
    if opts.state.is_dir():
        raise SettingsError(f"--state {opts.state} is a directory; name a file")
    if not opts.state.parent.resolve().is_dir():
        raise SettingsError(f"--state {opts.state}: folder {opts.state.parent} does not exist")


def for_service(settings: Settings, opts: ServiceOptions) -> Reconciler:
    """The reconciler ``callstream reconciler`` runs; raises StartupError when it cannot
    start."""
    from callstream import logs

    bootstrap = ck.bootstrap(settings)
    book = book_for(settings)  # refuses, with one line, no account or a bad accounts file
    check_options(opts)
    require_broker(bootstrap, opts.broker_source)
    require_free_port(opts.host, opts.port)
    logs.configure("reconciler", settings.log_level)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # logs every request
    profile = ck.service_profile(settings)
    return build(settings, opts, profile=profile, book=book)
