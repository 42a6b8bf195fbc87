"""``callstream rebuild --db NEW``: replay the topic from its first offset into NEW."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", required=True, metavar="NEW", help="the new SQLite file to build (must not exist)"
    )
    p.add_argument("--bootstrap-servers", default=None, help="overrides KAFKA_BOOTSTRAP_SERVERS")


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from callstream import kafka_clients, logs, topics
    from callstream.cli import CliError
    from callstream.reach import require_broker, source_of
    from callstream.settings import Settings
    from projector.consumer import LogWentBackwards, ProjectorError
    from projector.rebuild import RebuildError, check_new, rebuild

    settings = Settings.from_env(kafka_bootstrap_servers=args.bootstrap_servers)
    logs.configure("rebuild", "WARNING")
    logging.getLogger("kafka").setLevel(logging.CRITICAL + 1)  # one line of our own instead
    bootstrap = kafka_clients.bootstrap(settings)
    new = Path(args.db)
    try:
        check_new(new)  # before the broker: a wrong path is the quicker thing to fix
        require_broker(bootstrap, source_of(args))
        profile = kafka_clients.detect_profile(settings)
        counts = rebuild(settings, new, profile)
    except (RebuildError, ProjectorError, LogWentBackwards) as e:
        raise CliError(str(e)) from None
    print(f"rebuilt {new} from {settings.topic(topics.CALL_STATUS)}")
    for table, n in counts.items():
        print(f"{table}\t{n} rows")
    return 0
