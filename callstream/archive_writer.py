"""Commit the archiver's batches on a thread of their own.

Decoding a fetch (kafka-python, in the polling thread) and committing the previous batch
(SQLite, which releases the GIL while it writes and syncs) overlap: one batch is committed
while the next is polled. At most one batch is in flight, and the progress (positions,
counts) moves only once its transaction has committed, so ``/readyz``, the metrics, the
lag and ``--once`` never count a record that is not in the file yet.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from callstream.archive_store import ArchiveStore

if TYPE_CHECKING:
    from callstream.archive import ArchiveProgress


class Committer:
    def __init__(self, store: ArchiveStore, progress: ArchiveProgress) -> None:
        self.store = store
        self.progress = progress
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="archive-commit")
        self._pending: Future[None] | None = None

    def submit(self, rows: list[tuple[object, ...]], moved: dict[tuple[str, int], int]) -> None:
        """Commit ``rows`` with the positions ``moved`` after the batch before them."""
        self.wait()
        self._pending = self._pool.submit(self._commit, rows, moved)

    def _commit(self, rows: list[tuple[object, ...]], moved: dict[tuple[str, int], int]) -> None:
        n = self.store.append_rows(rows, moved)
        prog = self.progress
        prog.next_offset.update(moved)
        prog.records += n
        prog.batches += 1

    def wait(self) -> None:
        """Until the batch in flight has committed; raises what its commit raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
