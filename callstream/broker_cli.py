"""``callstream broker``: the embedded broker alone, in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from callstream import logs
from callstream.broker import EmbeddedBroker
from callstream.cliargs import port, require_free_port

log = logging.getLogger("callstream.broker")

MEMORY_ONLY = (
    "this broker keeps data in memory only: everything it holds, acknowledged records "
    "included, is lost when it stops or is killed; use Apache Kafka for data that must last"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port", type=port, default=None, help="port to listen on (default: a free one)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--no-topics", action="store_true", help="do not create callstream's topics")


def run(args: argparse.Namespace) -> int:
    from callstream import kafka_clients
    from callstream.settings import Settings

    logs.configure("broker")
    if args.port is not None:
        require_free_port(args.host, args.port)
    broker = EmbeddedBroker(port=args.port, host=args.host)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    broker.start()
    try:
        if not args.no_topics:
            settings = Settings.from_env(kafka_bootstrap_servers=broker.bootstrap)
            kafka_clients.ensure_topics(settings)
        print(broker.bootstrap, flush=True)
        log.warning(MEMORY_ONLY, extra={"storage": "memory"})
        log.info("ready", extra={"bootstrap": broker.bootstrap, "storage": "memory"})
        while not stop.wait(0.5):
            if not broker.alive():
                log.error("broker exited", extra={"tail": broker.log_tail()})
                return 1
        return 0
    finally:
        broker.kill()
        sys.stdout.flush()
