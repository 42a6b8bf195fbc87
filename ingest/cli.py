"""``callstream ingest [--host H] [--port P] [--workers N]`` (light imports only: the CLI
loads this module to build its help)."""

from __future__ import annotations

import argparse

from callstream.cliargs import MAX_WORKERS, port, require_free_port, workers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=8080, help="port to bind (default 8080)")
    parser.add_argument(
        "--workers",
        type=workers,
        default=1,
        help="ingest processes on the port, each with its own spool file (default 1; "
        f"at most {MAX_WORKERS}); see docs/ingest.md",
    )


def run(args: argparse.Namespace) -> int:
    from callstream.settings import Settings

    settings = Settings.from_env()
    require_free_port(args.host, args.port)
    if args.workers > 1:
        from ingest.workers import run_workers

        return run_workers(settings, args.host, args.port, args.workers)
    from ingest.service import run_service

    run_service(settings, args.host, args.port)
    return 0
