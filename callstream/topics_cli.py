"""``callstream topics``: create callstream's topics if they are missing (idempotent)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap-servers", default=None, help="overrides KAFKA_BOOTSTRAP_SERVERS")


def run(args: argparse.Namespace) -> int:
    from callstream import kafka_clients
    from callstream.reach import require_broker, source_of
    from callstream.settings import Settings

    settings = Settings.from_env(kafka_bootstrap_servers=args.bootstrap_servers)
    require_broker(kafka_clients.bootstrap(settings), source_of(args))
    created = kafka_clients.ensure_topics(settings)
    for spec in settings.topic_specs:
        state = "created" if spec.name in created else "exists"
        print(f"{spec.name}\t{spec.partitions} partitions\t{state}")
    return 0
