"""The one place ingest is wired: ``create_app(settings, bind_host)`` checks the settings
(once), builds the routes and the publisher, and returns the Starlette app; its lifespan
opens the spool and the Kafka producer, runs the drain task, and on shutdown flushes and
closes them.

Its ports, each replaceable by an in-memory fake (tests/unit/ingest):

* ``producer_factory``: makes Kafka producers (default :class:`KafkaProducerFactory`);
* ``clock``: the envelope's ``received_at`` (default :func:`callstream.timefmt.now_iso`);
* the spool path: ``settings.spool`` (a SQLite file; a temporary one in tests).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from callstream.errors import StartupError
from callstream.settings import Settings, SettingsError
from callstream.subaccounts import AccountBook, book_for
from callstream.timefmt import now_iso
from callstream.web import JSON_HTTP_ERRORS, health_routes, only_declared_methods
from ingest.dial import DialRoute
from ingest.event_streams_route import PATH as EVENTS_PATH
from ingest.event_streams_route import EventStreamsRoute
from ingest.metrics import IngestMetrics
from ingest.producer_port import KafkaProducerFactory, ProducerFactory
from ingest.publisher import Publisher
from ingest.signature import AccountSigners, SignatureChecker
from ingest.spool import Spool
from ingest.status import StatusCallbackRoute
from ingest.twilio_request import TwilioRequestReader
from ingest.voice import VoiceRoute
from ingest.voice_routing import VoipConfig

REQUIRED = ("public_url", "kafka_bootstrap_servers")  # and an account (book_for)


class IngestApp(Starlette):
    """Starlette, except that status callbacks (the hot path) go straight to their route,
    past the middleware stack and the router."""

    status_route: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] in STATUS_PATHS
            and scope["method"] in ("GET", "POST")
            and self.status_route is not None
        ):
            scope["app"] = self
            await self.status_route(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


# A status callback URL configured with a trailing slash is answered too: the signature is
# checked against the path Twilio requested, so either form validates only as itself.
STATUS_PATHS = ("/twilio/status", "/twilio/status/")


def voip_config(settings: Settings) -> VoipConfig:
    """The routing settings of ``/twilio/voice``; an allow-list without a caller ID is a
    startup error (every allowed call would be refused)."""
    if settings.dial_allow and settings.caller_id is None:
        raise SettingsError(
            "CALLSTREAM_DIAL_ALLOW is set but CALLSTREAM_CALLER_ID is not: set the number "
            "clients' calls show as their caller ID"
        )
    return VoipConfig(settings.forward_to, settings.caller_id, settings.dial_allow)


def check_spool(settings: Settings) -> None:
    """Raise :class:`StartupError` unless the spool file can be opened (created if new):
    a service that cannot spool must say so in one line before it serves, rather than
    fail in its lifespan with a traceback."""
    try:
        Spool(settings.spool).close()
    except (OSError, sqlite3.Error) as e:
        raise StartupError(
            f"cannot open the spool {settings.spool} (CALLSTREAM_SPOOL): {e}"
        ) from None


def create_app(
    settings: Settings,
    bind_host: str = "127.0.0.1",
    *,
    producer_factory: ProducerFactory | None = None,
    producer_options: dict[str, Any] | None = None,
    clock: Callable[[], str] = now_iso,
    book: AccountBook | None = None,
    **publisher_options: Any,
) -> Starlette:
    """The ingest app. Raises SettingsError when a required setting is missing.

    ``producer_options`` go to the Kafka producer (ignored with a ``producer_factory`` of
    the caller's own); ``publisher_options`` to :class:`ingest.publisher.Publisher`
    (``ack_timeout_s``, ``drain_batch``).
    """
    book = book_for(settings, *REQUIRED) if book is None else book
    if producer_factory is None:
        producer_factory = KafkaProducerFactory(settings, producer_options=producer_options)
    metrics = IngestMetrics()
    publisher = Publisher(settings, metrics, producer_factory, **publisher_options)
    first = book.first
    reader = TwilioRequestReader(
        SignatureChecker(first.auth_token, settings.public_base),
        settings.public_base,
        first.sid,
        AccountSigners(book, settings.public_base),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await publisher.start()
        book.start()
        try:
            yield
        finally:
            book.stop()
            await publisher.close()

    status_route = StatusCallbackRoute(reader, publisher, metrics, clock)
    routes = [
        *(Route(path, status_route, methods=["GET", "POST"]) for path in STATUS_PATHS),
        Route(
            "/twilio/voice",
            VoiceRoute(reader, metrics, voip_config(settings), settings.status_callback_url),
            methods=["POST"],
        ),
        Route(
            "/dial",
            DialRoute(settings, bind_host, publisher, metrics, book=book).endpoint,
            methods=["POST"],
        ),
        *health_routes(metrics.registry, publisher.ready),
        Route(
            EVENTS_PATH,
            EventStreamsRoute(
                settings,
                publisher,
                metrics,
                # every active account's tokens may sign a delivery; its events must be
                # the signer's own or its subaccounts'
                signers=lambda: [
                    (a.sid, t) for a in book.all() if a.status == "active" for t in a.tokens
                ],
                accepts=lambda signer, sid: _own_or_sub(book, signer, sid),
                clock=clock,
            ),
            methods=["POST"],
        ),
    ]
    app = IngestApp(routes=routes, lifespan=lifespan, exception_handlers=JSON_HTTP_ERRORS)
    # No redirect from '/x/' to '/x': Starlette builds its Location from the Host header,
    # and a redirected callback would be signed for another URL anyway.
    app.router.redirect_slashes = False
    only_declared_methods(app)  # no HEAD callback (Starlette adds HEAD to GET routes)
    app.status_route = status_route
    app.state.publisher = publisher
    app.state.metrics = metrics
    app.state.accounts = book
    return app


def _own_or_sub(book: AccountBook, signer: str, sid: str) -> bool:
    """An Event Streams delivery signed by ``signer`` may carry events of the accounts it may
    sign for: its own and its active subaccounts' (the same rule as for a callback)."""
    acct = book.get(sid)
    return acct is not None and signer in (a.sid for a in book.signers(acct))
