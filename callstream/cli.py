"""The ``callstream`` command line.

Each service keeps its own flags and entry point in a light ``<service>/cli.py`` module
(``add_arguments(parser)`` and ``run(args) -> int``) that imports nothing heavy at module
level, so ``callstream --help`` stays fast. This module only routes and turns known
errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from callstream import __version__
from callstream.errors import CliError

__all__ = ["COMMANDS", "CliError", "build_parser", "main"]

# subcommand -> (module holding add_arguments/run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": (
        "callstream.up",
        ("run everything on this machine (broker, ingest, projector, dialer, emulator)"),
    ),
    "broker": ("callstream.broker_cli", "run the embedded broker in the foreground"),
    "topics": ("callstream.topics_cli", "create callstream's topics if missing"),
    "ingest": ("ingest.cli", "run the ingest service (Twilio callbacks into Kafka)"),
    "projector": ("projector.cli", "run the projector (call state in SQLite) and its query API"),
    "dialer": ("dialer.cli", "run the dialer (outbound calls at the account's rate)"),
    "emulator": ("emulator.cli", "run the local Twilio emulator"),
    "calls": ("projector.cli_calls", "list projected calls"),
    "call": ("projector.cli_call", "show one projected call with its events"),
    "dial": ("dialer.cli_dial", "enqueue an outbound call"),
    "rebuild": ("projector.cli_rebuild", "replay the topic into a new database"),
    "archive": ("callstream.archive_cli", "copy callstream's topics into a local archive file"),
    "restore": ("callstream.restore_cli", "produce an archive back into empty topics"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callstream",
        description="Twilio call status callbacks into Kafka, projected call state, paced dialing.",
    )
    parser.add_argument("--version", action="version", version=f"callstream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                p.set_defaults(_module=None)
                continue
            raise
        mod.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from callstream.broker import BrokerError
    from callstream.settings import SettingsError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args._module is None:
        print(f"callstream {args.command}: error: not available in this build", file=sys.stderr)
        return 2
    mod: Any = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    except (SettingsError, BrokerError, CliError) as e:
        print(f"callstream {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
