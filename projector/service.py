"""``callstream projector``: the consumer in this process, the HTTP API in a child process.

The consumer runs on the main thread. The API runs in a child process (see
:mod:`projector.api_process`), so that applying a batch never delays a query. The consumer
stops the whole projector when it cannot go on (a log that went backwards, a foreign
database, a failing disk): the API shuts down, and the command exits non-zero with one line
saying why and what to do. SIGTERM or Ctrl-C stops both and exits 0.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from projector import schema
from projector.bootstrap import Wiring
from projector.consumer import LogWentBackwards, ProjectorError

log = logging.getLogger("callstream.projector")


@dataclass
class Outcome:
    fatal: str | None = None


def run_service(wiring: Wiring, host: str, port: int) -> Outcome:
    """Run a projector built by :func:`projector.bootstrap.build` until SIGTERM/Ctrl-C or a
    fatal error; return what happened. Closes its store."""
    projector, store, api, db = wiring.projector, wiring.store, wiring.api, wiring.db
    try:
        api.start()
    except OSError as e:
        store.close()
        return Outcome(f"could not listen on {host}:{port}: {e.strerror or e}")
    outcome = Outcome()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        projector.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        projector.run()
    except (LogWentBackwards, ProjectorError) as e:
        outcome.fatal = str(e)
    except sqlite3.Error as e:  # disk full, read-only file system, I/O error, locked
        log.exception("consumer failed")
        outcome.fatal = database_failed(db, e)
    except Exception as e:  # anything else: stop loudly rather than serve stale data
        log.exception("consumer failed")
        outcome.fatal = f"the consumer failed: {type(e).__name__}: {e}"
    finally:
        outcome.fatal = outcome.fatal or wiring.fatal  # an exception says more
        if outcome.fatal:
            projector.progress.fatal = outcome.fatal
            log.error("stopping", extra={"reason": outcome.fatal})
        api.stop()
        store.close()
        for s, h in previous.items():
            signal.signal(s, h)
    return outcome


def database_failed(db: Path, e: sqlite3.Error) -> str:
    """The one line an operator reads when the projector's database fails under it."""
    if getattr(e, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (
            f"another process held the write lock on {db} for over "
            f"{schema.BUSY_TIMEOUT_MS // 1000} s; the projector must be its only writer "
            "(look for an sqlite3 shell or a tool with an open write transaction), stop "
            "that and start the projector again: it resumes from the offsets stored in the "
            "file"
        )
    return (
        f"the database {db} failed: {type(e).__name__}: {e}; fix that (disk space, "
        "write access) and start the projector again: it resumes from the offsets "
        "stored in the file"
    )
