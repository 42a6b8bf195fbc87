"""The ``callstream`` command line.

Each service keeps its own flags and entry point in a light ``<service>/cli.py`` module
(``add_arguments(parser)`` and ``run(args) -> int``) that imports nothing heavy at module
level, so ``callstream --help`` stays fast. This module only routes and turns known
errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from callstream import __version__
from callstream.errors import CliError, StartupError

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
    "token": ("callstream.token_cli", "print a Voice SDK access token for a client"),
    "spool": ("ingest.cli_spool", "show ingest's spool; retry or drop the callbacks set aside"),
    "datasette": ("projector.cli_datasette", "browse the live database in Datasette"),
    "archive": ("callstream.archive_cli", "copy callstream's topics into a local archive file"),
    "restore": ("callstream.restore_cli", "produce an archive back into empty topics"),
    "reconciler": ("reconciler.cli", "run the reconciler (asks Twilio about calls gone quiet)"),
    "accounts": (
        "callstream.accounts_cli",
        "list the Twilio accounts and subaccounts callstream serves",
    ),
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
                p.set_defaults(_module=None, _parser=p)
                continue
            raise
        mod.add_arguments(p)
        p.set_defaults(_module=module, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # parse_known_args, so that an unknown flag is reported with the subcommand's usage
    # (argparse would otherwise report it with the top-level one)
    args, extra = parser.parse_known_args(argv)
    if extra:
        args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args._module is None:
        print(f"callstream {args.command}: error: not available in this build", file=sys.stderr)
        return 2
    # kafka-python logs its retries and connection failures itself; a command prints one
    # line of its own instead. Services turn their warnings back on (callstream.logs).
    logging.getLogger("kafka").setLevel(logging.CRITICAL + 1)
    mod: Any = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`callstream calls | head`): not an error worth a line
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:
        status, message = describe(e, args)
        if os.environ.get("CALLSTREAM_TRACEBACK") == "1":
            raise
        print(f"callstream {args.command}: error: {message}", file=sys.stderr)
        return status


def describe(e: Exception, args: argparse.Namespace) -> tuple[int, str]:
    """The exit status and the one-line message for an error that ended a command."""
    import sqlite3

    if isinstance(e, StartupError):
        return 2, str(e)
    if isinstance(e, sqlite3.Error):
        return 2, _one_line(f"database error: {e}")
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return 2, _one_line(f"{e.strerror}{where}")
    if type(e).__module__.startswith("kafka"):
        from callstream.reach import hint, source_of

        name = type(e).__name__
        if name in ("NoBrokersAvailable", "KafkaTimeoutError", "KafkaConnectionError"):
            bootstrap = getattr(args, "bootstrap_servers", None) or _env_bootstrap()
            return 2, _one_line(f"{hint(bootstrap, source_of(args))} ({name})")
        return 1, _one_line(f"Kafka error: {name}: {e}")
    return 1, _one_line(
        f"unexpected {type(e).__name__}: {e} (run with CALLSTREAM_TRACEBACK=1 to see where)"
    )


def _env_bootstrap() -> str | None:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS")


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
