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
    from callstream import kafka_clients, logs
    from callstream.archive_cli import one_line_errors
    from callstream.archive_store import ArchiveStore
    from callstream.cli import CliError
    from callstream.restore import restore
    from callstream.settings import Settings

    settings = Settings.from_env(archive=args.archive)
    logs.configure("restore", "WARNING")
    kafka_clients.bootstrap(settings)
    with one_line_errors(settings.kafka_bootstrap_servers):
        store = ArchiveStore(settings.archive, readonly=True)
        try:
            unknown = sorted(set(args.topic or ()) - set(store.topics()))
            if unknown:
                raise CliError(f"the archive holds no topic {unknown[0]}")
            done = restore(settings, store, only=args.topic)
        finally:
            store.close()
    for topic in done.topics:
        n = sum(c for (t, _), c in done.records.items() if t == topic)
        print(f"{topic}\t{n} records restored")
    return 0
