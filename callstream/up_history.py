"""``callstream up`` on the embedded broker: keep the log's history across runs.

The embedded broker holds the log in memory only, so every run starts with empty topics.
Before any service starts, :func:`restore_history` puts the archive written by the
previous runs' archiver back into the fresh broker (every record at its old offset), and
makes sure the projector's database does not hold more than that log: records the
projector applied but the archive never received (a ``kill -9`` lands between the two)
are gone from the log, so the database is rebuilt from the restored log instead of being
refused by the projector.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from callstream import topics
from callstream.settings import Settings


def restore_history(settings: Settings, env: dict[str, str], say: Callable[[str], None]) -> None:
    from callstream.archive_format import NotRestorable
    from callstream.archive_store import ArchiveError, ArchiveStore
    from callstream.errors import CliError
    from callstream.restore import RestoreError, restore

    path = settings.archive
    log_end: dict[int, int] = {}
    if path.exists():
        try:
            store = ArchiveStore(path, readonly=True)
        except ArchiveError as e:
            raise CliError(str(e)) from None
        try:
            done = restore(settings, store)
        except (NotRestorable, RestoreError) as e:
            raise CliError(f"cannot restore {path}: {e}") from None
        finally:
            store.close()
        say(f"history    {done.total:,} records restored from {path}")
        call_status = settings.topic(topics.CALL_STATUS)
        log_end = {p: n for (t, p), n in done.records.items() if t == call_status}
        why = "the broker lost them when 'callstream up' was killed before the archiver copied them"
    else:
        say(f"history    none yet; the log is archived to {path}")
        why = f"there is no {path}: they were applied before the log was archived"
    _rebuild_if_ahead(settings, env, log_end, say, why)


def applied_offsets(db: Path, topic: str) -> dict[int, int]:
    """The projector's stored offsets in ``db`` (empty when there is no such database)."""
    import sqlite3

    if not db.exists():
        return {}
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT partition, next_offset FROM projector_offsets WHERE topic = ?", (topic,)
        ).fetchall()
    except sqlite3.Error:
        return {}  # not a projector database: the projector says so in one line
    finally:
        conn.close()
    return {int(p): int(o) for p, o in rows}


def _rebuild_if_ahead(
    settings: Settings,
    env: dict[str, str],
    log_end: dict[int, int],
    say: Callable[[str], None],
    why: str,
) -> None:
    from callstream.errors import CliError

    db = settings.db
    applied = applied_offsets(db, settings.topic(topics.CALL_STATUS))
    ahead = {p: o for p, o in applied.items() if o > log_end.get(p, 0)}
    if not ahead:
        return
    extra = sum(o - log_end.get(p, 0) for p, o in ahead.items())
    say(
        f"history    {db} holds {extra:,} records the log does not ({why}); rebuilding it "
        f"from the log, the old file is kept as {db}.ahead"
    )
    new = db.with_name(db.name + ".rebuilt")
    _remove(new)
    r = subprocess.run(
        [sys.executable, "-m", "callstream", "rebuild", "--db", str(new)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        _remove(new)
        raise CliError(f"rebuilding {db} failed: {r.stderr.strip().splitlines()[-1:]}")
    ahead_copy = db.with_name(db.name + ".ahead")
    _remove(ahead_copy)
    os.replace(db, ahead_copy)
    for suffix in ("-wal", "-shm"):
        old = Path(str(db) + suffix)
        if old.exists():
            os.replace(old, Path(str(ahead_copy) + suffix))
    os.replace(new, db)


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()
