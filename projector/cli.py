"""``callstream projector [--db F] [--host H] [--port P]``: consumer plus query API."""

from __future__ import annotations

import argparse

from callstream.cliargs import port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, help="SQLite file (overrides CALLSTREAM_DB)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=8081, help="port to listen on (default 8081)")


def run(args: argparse.Namespace) -> int:
    import sys

    from callstream import logs
    from callstream.settings import Settings
    from projector.bootstrap import build
    from projector.service import run_service

    settings = Settings.from_env(db=args.db)
    logs.configure("projector", settings.log_level)
    wiring = build(settings, args.host, args.port)  # a StartupError is one line, exit 2
    outcome = run_service(wiring, args.host, args.port)
    if outcome.fatal:
        print(f"callstream projector: error: {outcome.fatal}", file=sys.stderr)
        return 1
    return 0
