"""``callstream dialer``: the dialer, with ``/livez``, ``/readyz`` and ``/metrics`` on a
small HTTP port (an extension of the contract: ``--host``/``--port``, default
127.0.0.1:8082)."""

from __future__ import annotations

import argparse
import logging
import sys

from callstream.cliargs import port, require_free_port

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
    from callstream import kafka_clients, logs, web
    from callstream.reach import require_broker, source_of
    from callstream.settings import Settings, SettingsError
    from dialer.app import create_app
    from dialer.twilio_api import TwilioCalls
    from dialer.worker import Dialer

    settings = Settings.from_env(
        cps=args.cps,
        kafka_bootstrap_servers=args.bootstrap_servers,
        twilio_api_url=args.twilio_api_url,
    )
    bootstrap = kafka_clients.bootstrap(settings)
    settings.require("twilio_account_sid", "twilio_auth_token", "public_url")
    require_broker(bootstrap, source_of(args))
    require_free_port(args.host, args.port)
    logs.configure("dialer", settings.log_level)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # logs every request
    try:
        profile = kafka_clients.detect_profile(settings)
    except Exception as e:
        raise SettingsError(f"cannot reach Kafka at {bootstrap}: {e}") from None
    assert settings.twilio_account_sid is not None and settings.twilio_auth_token is not None
    http_timeout = args.http_timeout
    if not 0 < http_timeout <= 300:
        raise SettingsError("--http-timeout must be above 0 and at most 300 seconds")
    calls = TwilioCalls(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_api_url,
        timeout_s=http_timeout,
    )
    dialer = Dialer(
        settings,
        profile,
        calls,
        http_timeout_s=http_timeout,
        causal_spacing=args.spacing == "answer",
    )
    web.serve(create_app(dialer), args.host, args.port, "dialer")
    if dialer.failed is not None:
        print(f"callstream dialer: error: {dialer.failed}", file=sys.stderr)
        return 1
    return 0
