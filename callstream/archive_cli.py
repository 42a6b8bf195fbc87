"""``callstream archive [--archive F] [--once] [--host H] [--port P]``: copy callstream's
topics into an append-only SQLite archive, following the tail (or once, to the end)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from callstream.cliargs import port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", default=None, help="archive file (overrides CALLSTREAM_ARCHIVE)")
    p.add_argument("--once", action="store_true", help="copy up to the end of the log, then exit")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=8083, help="port to listen on (default 8083)")


@contextlib.contextmanager
def one_line_errors(bootstrap: str | None) -> Iterator[None]:
    """The known failures of archive and restore, as the one line the CLI prints. A
    broker that does not answer is reported within seconds (kafka-python would retry for
    30 s)."""
    from kafka.errors import KafkaError

    from callstream.archive import ArchiverError
    from callstream.archive_format import NotRestorable
    from callstream.archive_store import ArchiveError
    from callstream.errors import CliError
    from callstream.reach import require_broker
    from callstream.restore import RestoreError

    if bootstrap:
        require_broker(bootstrap)
    try:
        yield
    except (ArchiveError, ArchiverError, NotRestorable, RestoreError) as e:
        raise CliError(str(e)) from None
    except KafkaError as e:
        raise CliError(f"cannot reach the broker at {bootstrap}: {e}") from None


def run(args: argparse.Namespace) -> int:
    import sys

    from callstream import kafka_clients, logs
    from callstream.archive import Archiver
    from callstream.archive_store import ArchiveStore
    from callstream.settings import Settings

    settings = Settings.from_env(archive=args.archive)
    logs.configure("archive", "WARNING" if args.once else settings.log_level)
    kafka_clients.bootstrap(settings)
    with one_line_errors(settings.kafka_bootstrap_servers):
        store = ArchiveStore(settings.archive)
        try:
            archiver = Archiver(settings, store, kafka_clients.detect_profile(settings))
            if args.once:
                once_with_progress(archiver)
                print(
                    f"archived {archiver.progress.records} new records; {settings.archive} "
                    f"holds {store.count()}",
                    file=sys.stderr,
                )
                return 0
            from callstream.archive_service import run_service

            fatal = run_service(archiver, args.host, args.port)
        finally:
            store.close()
    if fatal:
        print(f"callstream archive: error: {fatal}", file=sys.stderr)
        return 1
    return 0


def once_with_progress(archiver: Any) -> None:
    """``--once`` with a progress bar on stderr; Ctrl-C stops after the batch in flight."""
    import sys
    import threading

    from callstream.progressbar import ProgressBar

    failed: list[BaseException] = []

    def work() -> None:
        try:
            archiver.run(once=True, topic_wait_s=5, drain_s=0)
        except BaseException as e:  # handed to the main thread
            failed.append(e)

    thread = threading.Thread(target=work, name="archiver")
    thread.start()
    bar = ProgressBar(sys.stderr)
    prog = archiver.progress
    try:
        while thread.is_alive():
            thread.join(0.2)
            total = prog.records + sum(prog.lag().values())
            if prog.started and total:
                bar.update(prog.records, total)
    except KeyboardInterrupt:
        archiver.stop()
        thread.join()
        raise
    if failed:
        raise failed[0]
    if prog.records:
        bar.update(prog.records, prog.records, final=True)
