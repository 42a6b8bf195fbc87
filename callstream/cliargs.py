"""Checks of command arguments shared by the commands: a bad value is refused before
anything starts (while parsing, with the subcommand's usage, where argparse can tell)."""

from __future__ import annotations

import argparse


def port(raw: str) -> int:
    """A TCP port to listen on: 1 to 65535."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{raw} is not a port between 1 and 65535")
    return value


MAX_WORKERS = 64  # callstream ingest --workers


def workers(raw: str) -> int:
    """A number of worker processes (``callstream ingest --workers``): 1 to MAX_WORKERS."""
    if not (raw.isascii() and raw.isdigit()):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of workers")
    if len(raw) > 6 or not 1 <= int(raw) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{raw} is not between 1 and {MAX_WORKERS}")
    return int(raw)


def sink_url(raw: str) -> str:
    """An http(s) URL with a host (``callstream emulator`` and ``callstream up``'s
    ``--event-sink``)."""
    from urllib.parse import urlsplit

    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an http(s) URL")
    return raw


def require_free_port(host: str, port: int, flag: str = "--port") -> None:
    """Raise CliError when ``host:port`` cannot be bound: one line before a service starts,
    instead of its server's log lines about the failed bind."""
    import socket

    from callstream.errors import CliError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as e:
            raise CliError(
                f"cannot listen on {host}:{port}: {e.strerror or e}; pass {flag} with a free one"
            ) from None
