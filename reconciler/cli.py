"""``callstream reconciler``: asks Twilio's REST API about calls whose callbacks were lost
(docs/reconciliation.md), with ``/livez``, ``/readyz`` and ``/metrics`` on
``--host``/``--port`` (default 127.0.0.1:8084)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callstream.cliargs import port

DEFAULT_PORT = 8084


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None


def _whole(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number")
    return int(raw)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="health/metrics address (127.0.0.1)")
    p.add_argument(
        "--port", type=port, default=DEFAULT_PORT, help=f"health/metrics port ({DEFAULT_PORT})"
    )
    p.add_argument(
        "--state",
        type=Path,
        default=Path("callstream-reconciler.db"),
        help="the reconciler's own SQLite file (default callstream-reconciler.db)",
    )
    p.add_argument(
        "--after", type=_number, default=None, help="overrides CALLSTREAM_RECONCILE_AFTER"
    )
    p.add_argument(
        "--rate",
        type=_number,
        default=5.0,
        help="REST requests per second at most (default 5)",
    )
    p.add_argument(
        "--max-attempts",
        type=_whole,
        default=8,
        help="asks per call before giving up on it (default 8)",
    )
    p.add_argument(
        "--http-timeout",
        type=_number,
        default=15.0,
        help="seconds to wait for Twilio's answer (default 15)",
    )
    p.add_argument("--bootstrap-servers", default=None, help="overrides KAFKA_BOOTSTRAP_SERVERS")
    p.add_argument("--twilio-api-url", default=None, help="overrides TWILIO_API_URL")


def run(args: argparse.Namespace) -> int:
    """Parse, build (:func:`reconciler.bootstrap.for_service` raises a StartupError, which
    ``callstream.cli`` reports as one line, exit 2), serve until stopped."""
    from callstream import web
    from callstream.reach import source_of
    from callstream.settings import Settings
    from reconciler.app import create_app
    from reconciler.bootstrap import ServiceOptions, for_service

    settings = Settings.from_env(
        reconcile_after=args.after,
        kafka_bootstrap_servers=args.bootstrap_servers,
        twilio_api_url=args.twilio_api_url,
    )
    opts = ServiceOptions(
        host=args.host,
        port=args.port,
        state=args.state,
        rate=args.rate,
        max_attempts=args.max_attempts,
        http_timeout_s=args.http_timeout,
        broker_source=source_of(args),
    )
    reconciler = for_service(settings, opts)
    web.serve(create_app(reconciler), args.host, args.port, "reconciler")
    if reconciler.failed is not None:
        print(f"callstream reconciler: error: {reconciler.failed}", file=sys.stderr)
        return 1
    return 0
