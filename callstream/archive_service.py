"""``callstream archive`` as a service: the archiver on a thread, ``/livez``, ``/readyz``
and ``/metrics`` (records archived, lag per partition) served by uvicorn on the main thread.

A fatal archiver error stops the server, and the command exits non-zero with the reason.
SIGTERM or Ctrl-C stops the server; the archiver then copies what is left (a few seconds at
most) and the command exits 0.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette

from callstream.archive import ArchiveProgress, Archiver, ArchiverError
from callstream.web import JSON_HTTP_ERRORS, health_routes, make_server

log = logging.getLogger("callstream.archive")

STALLED_AFTER_S = 15.0


class ArchiveCollector(Collector):
    def __init__(self, progress: ArchiveProgress) -> None:
        self.progress = progress

    def collect(self) -> Iterator[Any]:
        prog = self.progress
        records = CounterMetricFamily(
            "callstream_archive_records", "Records copied into the archive by this process"
        )
        records.add_metric([], prog.records)
        yield records
        lag = GaugeMetricFamily(
            "callstream_archive_lag",
            "Records in the broker not yet in the archive",
            labels=["topic", "partition"],
        )
        for (t, p), n in sorted(prog.lag().items()):
            lag.add_metric([t, str(p)], n)
        yield lag
        pos = GaugeMetricFamily(
            "callstream_archive_next_offset",
            "The next offset the archive will hold",
            labels=["topic", "partition"],
        )
        for (t, p), n in sorted(prog.next_offset.items()):
            pos.add_metric([t, str(p)], n)
        yield pos
        if prog.polled_at is not None:
            polled = GaugeMetricFamily(
                "callstream_archive_last_poll_timestamp_seconds",
                "Wall-clock time the archiver last finished a poll",
            )
            polled.add_metric([], prog.polled_at)
            yield polled


def build_app(progress: ArchiveProgress) -> Starlette:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ArchiveCollector(progress))

    async def ready() -> tuple[bool, dict[str, Any]]:
        import time

        lag = sum(progress.lag().values())
        detail: dict[str, Any] = {"records": progress.records, "lag": lag}
        if progress.fatal:
            return False, {**detail, "reason": progress.fatal}
        if not progress.started or progress.polled_at is None:
            return False, {**detail, "reason": "starting"}
        if time.time() - progress.polled_at > STALLED_AFTER_S:
            return False, {**detail, "reason": "the archiver has not polled for 15 s"}
        return True, detail

    return Starlette(routes=health_routes(registry, ready), exception_handlers=JSON_HTTP_ERRORS)


def run_service(archiver: Archiver, host: str, port: int) -> str | None:
    """Serve until SIGTERM/Ctrl-C or a fatal archiver error; return that error, or None."""
    prog = archiver.progress
    server = make_server(build_app(prog), host, port, "archive", graceful_s=2)

    def work() -> None:
        try:
            archiver.run()
        except ArchiverError as e:
            prog.fatal = str(e)
        except sqlite3.Error as e:
            log.exception("archiver failed")
            prog.fatal = (
                f"the archive {archiver.store.path} failed: {e}; fix that (disk space, write "
                "access, one archiver per file) and start again: it resumes from its positions"
            )
        except Exception as e:  # stop loudly: an archive that silently stops copying is lost
            log.exception("archiver failed")
            prog.fatal = f"the archiver failed: {type(e).__name__}: {e}"
        finally:
            if prog.fatal:
                log.error("stopping", extra={"reason": prog.fatal})
            server.should_exit = True

    thread = threading.Thread(target=work, name="archiver")
    thread.start()
    try:
        server.run()
    finally:
        archiver.stop()
        thread.join()
    if prog.fatal is None and not server.started:
        return f"could not listen on {host}:{port}"
    return prog.fatal
