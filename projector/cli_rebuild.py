"""``callstream rebuild --db NEW``: replay the topic from its first offset into NEW."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", required=True, metavar="NEW", help="the new SQLite file to build (must not exist)"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from callstream import kafka, logs, topics
    from callstream.cli import CliError
    from callstream.settings import Settings
    from projector.consumer import LogWentBackwards, ProjectorError
    from projector.rebuild import RebuildError, rebuild

    settings = Settings.from_env()
    logs.configure("rebuild", "WARNING")
    kafka.bootstrap(settings)
    new = Path(args.db)
    try:
        profile = kafka.detect_profile(settings)
        counts = rebuild(settings, new, profile)
    except (RebuildError, ProjectorError, LogWentBackwards) as e:
        raise CliError(str(e)) from None
    print(f"rebuilt {new} from {settings.topic(topics.CALL_STATUS)}")
    for table, n in counts.items():
        print(f"{table}\t{n} rows")
    return 0
