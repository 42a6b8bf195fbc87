"""``callstream ingest [--host H] [--port P]`` (light imports only: the CLI loads this
module to build its help)."""

from __future__ import annotations

import argparse

from callstream.cliargs import port, require_free_port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=8080, help="port to bind (default 8080)")


def run(args: argparse.Namespace) -> int:
    from callstream.settings import Settings
    from ingest.service import run_service

    settings = Settings.from_env()
    require_free_port(args.host, args.port)
    run_service(settings, args.host, args.port)
    return 0
