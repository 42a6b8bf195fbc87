"""Is the broker there? A quick answer for one-shot commands and reconnecting services.

The one broker probe of the product (``unreachable``, ``probe``, ``require_broker``).

kafka-python gives up on a dead bootstrap list only after its own timeouts (about 30 s for
a producer's metadata, with a traceback's worth of log lines meanwhile). A command someone
typed should say within seconds that nothing answers, and what to do about it.
"""

from __future__ import annotations

import argparse
import socket
import struct

from callstream.errors import CliError

CONNECT_TIMEOUT_S = 3.0


def unreachable(bootstrap: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """Why no address of ``bootstrap`` answers a Kafka request, or "" when one does."""
    errors = []
    for addr in bootstrap.split(","):
        host, _, port = addr.strip().rpartition(":")
        try:
            why = _probe(host.strip("[]"), int(port), timeout_s)
        except (OSError, ValueError) as e:
            why = getattr(e, "strerror", None) or str(e) or type(e).__name__
        if not why:
            return ""
        errors.append(why)
    return "; ".join(dict.fromkeys(errors))


def _probe(host: str, port: int, timeout_s: float) -> str:
    """Send ApiVersions (v0, which every broker answers) and read the answer's header: a
    port that accepts connections but is not Kafka (a web server, a stopped container's
    proxy) is told apart within ``timeout_s`` instead of the client's 30 s."""
    client = b"callstream"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client  # api key 18, v0, id 1
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        s.settimeout(timeout_s)
        s.sendall(struct.pack(">i", len(body)) + body)
        head = b""
        while len(head) < 8:
            try:
                chunk = s.recv(8 - len(head))
            except TimeoutError:
                return f"no answer to a Kafka request within {timeout_s:g} s"
            if not chunk:
                return "the connection was closed without a Kafka answer"
            head += chunk
    size, correlation = struct.unpack(">ii", head)
    if correlation != 1 or not 4 <= size <= 1 << 20:
        return "something answers there, but not a Kafka broker"
    return ""


def probe(bootstrap: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ConnectionError unless some address of ``bootstrap`` answers a Kafka request.
    Cheap, and it spares building Kafka clients (and their failed sockets) while the broker
    is down: services call it before each reconnection attempt."""
    why = unreachable(bootstrap, timeout_s)
    if why:
        raise ConnectionError(f"no Kafka broker answers at {bootstrap}: {why}")


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
