"""Replay the callback topic from its first offset into a new database file.

The result is row-for-row what the live projector holds after applying the same records:
both run the same store code, and the tables are a function of the set of records. The file
is built under ``NEW.partial`` and renamed when complete, so ``NEW`` never holds half a
rebuild; an existing ``NEW`` is never overwritten.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from callstream import topics
from callstream.kafka_clients import BrokerProfile
from callstream.progressbar import ProgressBar
from callstream.settings import Settings
from projector import gctune
from projector.bootstrap import Ports
from projector.cache import CallCache
from projector.consumer import Projector
from projector.progress import Progress
from projector.schema import TABLES
from projector.store import Store


class RebuildError(RuntimeError):
    """The rebuild cannot start or finish; the message says why."""


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()


def check_new(new: Path) -> None:
    """Raise :class:`RebuildError` unless ``new`` can be created as a new file."""
    if any(Path(str(new) + s).exists() for s in ("", "-wal")):
        raise RebuildError(
            f"{new} already exists; rebuild writes a new file only "
            "(choose another name or move the old file away)"
        )
    if not new.parent.is_dir():
        raise RebuildError(f"directory {new.parent} does not exist")
    if not os.access(new.parent, os.W_OK | os.X_OK):
        raise RebuildError(f"cannot create files in {new.parent} (permission denied)")


def rebuild(
    settings: Settings,
    new: Path,
    profile: BrokerProfile,
    out: TextIO | None = None,
    ports: Ports | None = None,
) -> dict[str, int]:
    """Build ``new`` from the topic; return the row count of each table. ``ports``: the
    records source and clock, as for :func:`projector.bootstrap.build`."""
    ports = ports or Ports()
    out = sys.stderr if out is None else out
    check_new(new)
    partial = new.with_name(new.name + ".partial")
    _remove(partial)  # a rebuild that was interrupted earlier
    gctune.tune()
    store = Store(
        partial, settings.topic(topics.CALL_STATUS), CallCache(settings.projector_cache_calls)
    )
    bar = ProgressBar(out)

    def on_batch(prog: Progress) -> None:
        lag = sum(v for v in prog.lag().values() if v is not None)
        bar.update(prog.records, prog.records + lag)

    try:
        projector = Projector(
            settings,
            store,
            profile,
            group_id=None,
            client_id="callstream-rebuild",
            consumer=ports.consumer,
            clock=ports.clock,
        )
        prog = projector.run(until_caught_up=True, topic_wait_s=5.0, on_batch=on_batch)
        bar.update(prog.records, prog.records, final=True)
        counts = {
            t: int(store.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])  # noqa: S608
            for t in TABLES
        }
    except BaseException:
        store.close()
        _remove(partial)
        raise
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    if new.exists():
        _remove(partial)
        raise RebuildError(f"{new} appeared while rebuilding; left it alone")
    os.replace(partial, new)
    for s in ("-wal", "-shm"):
        Path(str(partial) + s).unlink(missing_ok=True)
    return counts
