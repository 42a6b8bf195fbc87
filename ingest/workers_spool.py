"""Which spool file each ingest worker owns, and who drains the files no worker owns.

With ``--workers N`` (N > 1) worker ``i`` spools to ``<stem>.w<i><suffix>`` next to
``CALLSTREAM_SPOOL`` (``callstream-spool.db`` -> ``callstream-spool.w0.db``, ...); one
process (N = 1, the default) keeps ``CALLSTREAM_SPOOL`` itself. Every spool file is SQLite
with a single writer, so no two processes ever append to one file.

A spool file whose owner will not start again must not be forgotten: when N shrinks
(``--workers 4`` then ``--workers 2``, or then no ``--workers``), or when a run with
workers is followed by a single process, or the other way round. At start, before it
serves, worker ``i`` adopts (``Spool.adopt``: moves every row into its own file, then
deletes the emptied file) each such file assigned to it: ``.w<j>`` with ``j >= N`` and
``j % N == i``, and, for worker 0 when N > 1, the single-process file. A worker that
crashed is restarted with the same index, so it finds its own file again and drains it.

One ingest (with its workers) per spool path: two ingests started on one path would adopt
each other's files.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ingest.spool import Spool

log = logging.getLogger("callstream.ingest")


def worker_spool(base: Path, index: int, workers: int) -> Path:
    """The spool file of worker ``index`` of ``workers``."""
    if workers == 1:
        return base
    return base.with_name(f"{base.stem}.w{index}{base.suffix}")


def _worker_files(base: Path) -> dict[int, Path]:
    """Existing ``<stem>.w<j><suffix>`` files, by ``j``."""
    pattern = re.compile(re.escape(base.stem) + r"\.w(\d{1,6})" + re.escape(base.suffix) + "$")
    found: dict[int, Path] = {}
    parent = base.parent if str(base.parent) else Path(".")
    if not parent.is_dir():
        return found
    for p in parent.iterdir():
        m = pattern.match(p.name)
        if m and p.is_file():
            found[int(m.group(1))] = p
    return found


def orphans(base: Path, index: int, workers: int) -> list[Path]:
    """The spool files worker ``index`` of ``workers`` must adopt, in a stable order."""
    out: list[Path] = []
    if workers > 1 and index == 0 and base.is_file():
        out.append(base)
    for j, p in sorted(_worker_files(base).items()):
        owned = workers > 1 and j < workers
        if not owned and j % workers == index:
            out.append(p)
    return out


def adopt_orphans(own: Spool, base: Path, index: int, workers: int) -> int:
    """Move every orphan assigned to this worker into ``own``; delete each emptied file."""
    total = 0
    for path in orphans(base, index, workers):
        moved = own.adopt(path)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        extra = {"spool": str(path), "records": moved, "into": str(own.path)}
        if moved:
            log.warning(
                "adopted the spool of a worker that no longer runs; draining it", extra=extra
            )
        else:
            log.info("removed the empty spool of a worker that no longer runs", extra=extra)
        total += moved
    return total
