"""The one place the dialer is wired: settings checked, ports chosen, the loop built.

:func:`build` takes an in-memory fake for any port (the Twilio API, the Kafka clients, the
clock; see :mod:`dialer.ports`) and builds the real adapter for the others.
:func:`for_service` is what ``callstream dialer`` runs: it also checks that the broker
answers, the health port is free and the options are sane, and raises a
:class:`callstream.errors.StartupError` (one line, exit 2) when they are not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from callstream import kafka_clients as ck
from callstream.cliargs import require_free_port
from callstream.reach import require_broker
from callstream.settings import Settings, SettingsError
from callstream.subaccounts import AccountBook, book_for
from dialer.loop import Dialer
from dialer.ports import BrokerClients, Clock, KafkaClients
from dialer.twilio_api import AccountCalls, CallsApi

MAX_HTTP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ServiceOptions:
    """What ``callstream dialer``'s flags say beyond the settings."""

    host: str
    port: int
    http_timeout_s: float = 15.0
    causal_spacing: bool = True  # --spacing answer
    broker_source: str = "KAFKA_BOOTSTRAP_SERVERS"  # where the bootstrap list came from


def build(
    settings: Settings,
    *,
    profile: ck.BrokerProfile | None = None,
    calls: CallsApi | None = None,
    clients: KafkaClients | None = None,
    clock: Clock | None = None,
    http_timeout_s: float = 15.0,
    book: AccountBook | None = None,
    **tuning: Any,
) -> Dialer:
    """A dialer for ``settings``. Without ``clients``, kafka-python clients for the
    broker, whose ``profile`` is then needed; without ``calls``, twilio-python against
    ``TWILIO_API_URL``; without ``book``, the configured accounts (listing their
    subaccounts when CALLSTREAM_ACCOUNTS_REFRESH says so). ``tuning``: the
    :class:`dialer.loop.Dialer` keywords."""
    if book is None:
        book = book_for(settings)
    if calls is None:
        calls = AccountCalls(book, settings.twilio_api_url, timeout_s=http_timeout_s)
    if clients is None:
        if profile is None:
            raise ValueError("the broker profile is needed to build Kafka clients")
        clients = BrokerClients(settings, profile)
    return Dialer(
        settings, calls, clients, clock=clock, http_timeout_s=http_timeout_s, book=book, **tuning
    )


def check_options(opts: ServiceOptions) -> None:
    if not 0 < opts.http_timeout_s <= MAX_HTTP_TIMEOUT_S:
        raise SettingsError("--http-timeout must be above 0 and at most 300 seconds")


def for_service(settings: Settings, opts: ServiceOptions) -> Dialer:
    """The dialer ``callstream dialer`` runs; raises StartupError when it cannot start."""
    from callstream import logs

    bootstrap = ck.bootstrap(settings)
    book = book_for(settings, "public_url")
    require_broker(bootstrap, opts.broker_source)
    require_free_port(opts.host, opts.port)
    logs.configure("dialer", settings.log_level)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # logs every request
    profile = ck.service_profile(settings)
    check_options(opts)
    return build(
        settings,
        profile=profile,
        http_timeout_s=opts.http_timeout_s,
        causal_spacing=opts.causal_spacing,
        book=book,
    )
