"""``callstream archive [--archive F] [--once] [--host H] [--port P]``: copy callstream's
topics into an append-only SQLite archive, following the tail (or once, to the end)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", default=None, help="archive file (overrides CALLSTREAM_ARCHIVE)")
    p.add_argument("--once", action="store_true", help="copy up to the end of the log, then exit")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8083, help="port to listen on (default 8083)")


def run(args: argparse.Namespace) -> int:
    import sys

    from kafka.errors import KafkaError

    from callstream import kafka, logs
    from callstream.archive import Archiver, ArchiverError
    from callstream.archive_store import ArchiveError, ArchiveStore
    from callstream.cli import CliError
    from callstream.settings import Settings

    settings = Settings.from_env(archive=args.archive)
    logs.configure("archive", settings.log_level)
    kafka.bootstrap(settings)
    if not 0 < args.port < 65536:
        raise CliError("--port must be between 1 and 65535")
    try:
        store = ArchiveStore(settings.archive)
    except ArchiveError as e:
        raise CliError(str(e)) from None
    try:
        profile = kafka.detect_profile(settings)
        archiver = Archiver(settings, store, profile)
        if args.once:
            archiver.run(once=True)
            n = store.count()
            print(
                f"archived {archiver.progress.records} new records; {settings.archive} holds {n}",
                file=sys.stderr,
            )
            return 0
        from callstream.archive_service import run_service

        fatal = run_service(archiver, args.host, args.port)
    except ArchiverError as e:
        raise CliError(str(e)) from None
    except KafkaError as e:
        raise CliError(
            f"cannot reach the broker at {settings.kafka_bootstrap_servers}: {e}"
        ) from None
    finally:
        store.close()
    if fatal:
        print(f"callstream archive: error: {fatal}", file=sys.stderr)
        return 1
    return 0
