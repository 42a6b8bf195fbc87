"""Is the broker there? A quick answer for one-shot commands.

kafka-python gives up on a dead bootstrap list only after its own timeouts (about 30 s for
a producer's metadata, with a traceback's worth of log lines meanwhile). A command someone
typed should say within seconds that nothing answers, and what to do about it.
"""

from __future__ import annotations

import argparse
import socket

from callstream.errors import CliError

CONNECT_TIMEOUT_S = 3.0


def unreachable(bootstrap: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """Why no address of ``bootstrap`` accepts a TCP connection, or "" when one does."""
    errors = []
    for addr in bootstrap.split(","):
        host, _, port = addr.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
            return ""
        except (OSError, ValueError) as e:
            errors.append(getattr(e, "strerror", None) or str(e) or type(e).__name__)
    return "; ".join(dict.fromkeys(errors))


def require_broker(
    bootstrap: str, source: str = "KAFKA_BOOTSTRAP_SERVERS", timeout_s: float = CONNECT_TIMEOUT_S
) -> None:
    """Raise :class:`CliError` with a hint when no address of ``bootstrap`` answers."""
    why = unreachable(bootstrap, timeout_s)
    if why:
        raise CliError(
            f"cannot reach Kafka at {bootstrap} ({source}): {why}; "
            "is `callstream up` (or your broker) running?"
        )


def hint(bootstrap: str | None, source: str = "KAFKA_BOOTSTRAP_SERVERS") -> str:
    """The sentence added to a Kafka client error that looks like an absent broker."""
    return f"cannot reach Kafka at {bootstrap} ({source}); is `callstream up` running?"


def source_of(args: argparse.Namespace) -> str:
    """Where the bootstrap list came from, for the message: the flag or the variable."""
    if getattr(args, "bootstrap_servers", None):
        return "--bootstrap-servers"
    return "KAFKA_BOOTSTRAP_SERVERS"
