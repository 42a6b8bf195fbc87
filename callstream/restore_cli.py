"""``callstream restore [--archive F] [--topic T ...]``: produce an archive back into empty
topics, every record at its partition and offset, with a progress bar."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", default=None, help="archive file (overrides CALLSTREAM_ARCHIVE)")
    p.add_argument(
        "--topic",
        action="append",
        default=None,
        help="restore only this archived topic (repeatable; default: all of them)",
    )


def run(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from callstream import kafka, logs
    from callstream.archive_format import NotRestorable
    from callstream.archive_store import ArchiveError, ArchiveStore
    from callstream.cli import CliError
    from callstream.restore import RestoreError, restore
    from callstream.settings import Settings

    settings = Settings.from_env(archive=args.archive)
    logs.configure("restore", "WARNING")
    kafka.bootstrap(settings)
    try:
        store = ArchiveStore(settings.archive, readonly=True)
    except ArchiveError as e:
        raise CliError(str(e)) from None
    try:
        unknown = sorted(set(args.topic or ()) - set(store.topics()))
        if unknown:
            raise CliError(f"the archive holds no topic {unknown[0]}")
        done = restore(settings, store, only=args.topic)
    except (NotRestorable, RestoreError) as e:
        raise CliError(str(e)) from None
    except KafkaError as e:
        raise CliError(
            f"cannot reach the broker at {settings.kafka_bootstrap_servers}: {e}"
        ) from None
    finally:
        store.close()
    for topic in done.topics:
        n = sum(c for (t, _), c in done.records.items() if t == topic)
        print(f"{topic}\t{n} records restored")
    return 0
