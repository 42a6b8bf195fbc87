"""``callstream dialer``: the dialer, with ``/livez``, ``/readyz`` and ``/metrics`` on a
small HTTP port (an extension of the contract: ``--host``/``--port``, default
127.0.0.1:8082)."""

from __future__ import annotations

import argparse
import sys

from callstream.cliargs import port

DEFAULT_PORT = 8082


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="health/metrics address (127.0.0.1)")
    p.add_argument(
        "--port",
        type=port,
        default=DEFAULT_PORT,
        help=f"health/metrics port (default {DEFAULT_PORT})",
    )
    p.add_argument("--cps", type=float, default=None, help="overrides CALLSTREAM_CPS")
    p.add_argument("--bootstrap-servers", default=None, help="overrides KAFKA_BOOTSTRAP_SERVERS")
    p.add_argument("--twilio-api-url", default=None, help="overrides TWILIO_API_URL")
    p.add_argument(
        "--spacing",
        choices=("answer", "start"),
        default="answer",
        help="'answer' (default): also start each create at least 1/CPS after the previous "
        "answer came back, which guarantees the gap where creates are received; 'start': "
        "space from the previous start plus a 15 ms margin only (for a distant API that "
        "queues creates over the rate, as Twilio does)",
    )
    p.add_argument(
        "--http-timeout",
        type=float,
        default=15.0,
        help="seconds to wait for Twilio's answer to a create (default 15); a send with no "
        "outcome is treated as in doubt this long plus 5 s after it started",
    )


def run(args: argparse.Namespace) -> int:
    """Parse, build (:func:`dialer.bootstrap.for_service` raises a StartupError, which
    ``callstream.cli`` reports as one line, exit 2), serve until stopped."""
    from callstream import web
    from callstream.reach import source_of
    from callstream.settings import Settings
    from dialer.app import create_app
    from dialer.bootstrap import ServiceOptions, for_service

    settings = Settings.from_env(
        cps=args.cps,
        kafka_bootstrap_servers=args.bootstrap_servers,
        twilio_api_url=args.twilio_api_url,
    )
    opts = ServiceOptions(
        host=args.host,
        port=args.port,
        http_timeout_s=args.http_timeout,
        causal_spacing=args.spacing == "answer",
        broker_source=source_of(args),
    )
    dialer = for_service(settings, opts)
    web.serve(create_app(dialer), args.host, args.port, "dialer")
    if dialer.failed is not None:
        print(f"callstream dialer: error: {dialer.failed}", file=sys.stderr)
        return 1
    return 0
