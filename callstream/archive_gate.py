"""Hold a producer's acknowledgement until the archive holds the record.

On the embedded broker the log lives in memory only: a record the broker acknowledged is
durable once the archiver has committed it to the archive file. With
``CALLSTREAM_ARCHIVE_ACK=1`` (set by ``callstream up`` on the embedded broker) ingest
chains each produce future through :meth:`ArchiveGate.chain`, so that it answers ``204``
only once the archive holds the callback; a ``kill -9`` of everything then loses no
answered callback.

The gate works on kafka-python's own futures, in threads: the producer's I/O thread hands
over each acknowledgement (topic, partition, offset), and one watcher thread reads the
archive's positions every few milliseconds while any record waits, and completes the
chained futures whose offset the archive has passed. A record still waiting after
``give_up_s`` fails its future (the archiver is not running), so the caller falls back to
whatever it does when Kafka does not acknowledge.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from kafka.future import Future

from callstream.settings import Settings


class NotArchived(Exception):
    """The archive did not take the record in time (is the archiver running?)."""


def ack_gate(settings: Settings) -> ArchiveGate | None:
    """The gate ingest uses when ``CALLSTREAM_ARCHIVE_ACK`` is on, else None."""
    return ArchiveGate(settings.archive) if settings.archive_ack else None


class ArchiveGate:
    def __init__(self, path: Path, poll_s: float = 0.002, give_up_s: float = 30.0) -> None:
        self.path = path
        self.poll_s = poll_s
        self.give_up_s = give_up_s
        self._cv = threading.Condition()
        # (topic, partition) -> [(offset, chained future, metadata, deadline)]
        self._waiting: dict[tuple[str, int], list[tuple[int, Future, Any, float]]] = {}
        self._known: dict[tuple[str, int], int] = {}
        self._thread: threading.Thread | None = None

    def chain(self, kfut: Any) -> Future:
        """A future that succeeds with ``kfut``'s metadata once the archive holds that
        record, and fails when ``kfut`` fails or the archive does not take it in time."""
        out = Future()
        kfut.add_callback(self._acked, out)
        kfut.add_errback(out.failure)
        return out

    def _acked(self, out: Future, meta: Any) -> None:
        key = (meta.topic, meta.partition)
        with self._cv:
            if self._known.get(key, -1) > meta.offset:
                ready = True
            else:
                ready = False
                deadline = time.monotonic() + self.give_up_s
                self._waiting.setdefault(key, []).append((meta.offset, out, meta, deadline))
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._watch, name="archive-gate", daemon=True
                    )
                    self._thread.start()
                self._cv.notify()
        if ready:
            out.success(meta)

    def _positions(self, conn: sqlite3.Connection | None) -> tuple[Any, dict[Any, int]]:
        try:
            if conn is None:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            rows = conn.execute("SELECT topic, partition, next_offset FROM positions")
            return conn, {(t, int(p)): int(o) for t, p, o in rows}
        except sqlite3.Error:
            if conn is not None:
                conn.close()
            return None, {}  # not created yet, or busy: try again on the next round

    def _watch(self) -> None:
        conn: sqlite3.Connection | None = None
        while True:
            with self._cv:
                while not self._waiting:
                    self._cv.wait()
            conn, positions = self._positions(conn)
            now = time.monotonic()
            done: list[tuple[Future, Any]] = []
            late: list[tuple[Future, Any]] = []
            with self._cv:
                self._known.update(positions)
                for key, items in list(self._waiting.items()):
                    nxt = positions.get(key, -1)
                    keep = []
                    for offset, out, meta, deadline in items:
                        if offset < nxt:
                            done.append((out, meta))
                        elif now > deadline:
                            late.append((out, meta))
                        else:
                            keep.append((offset, out, meta, deadline))
                    if keep:
                        self._waiting[key] = keep
                    else:
                        del self._waiting[key]
            for out, meta in done:
                out.success(meta)
            for out, meta in late:
                out.failure(
                    NotArchived(
                        f"{meta.topic} partition {meta.partition} offset {meta.offset} not in "
                        f"the archive {self.path} after {self.give_up_s:.0f} s"
                    )
                )
            time.sleep(self.poll_s)
