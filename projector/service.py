"""``callstream projector``: the consumer in a thread and the HTTP API in one process.

The consumer stops the whole process when it cannot go on (a log that went backwards, a
foreign database): the API shuts down, and the command exits non-zero with one line saying
why and what to do.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from callstream import kafka, topics
from callstream.settings import Settings
from callstream.web import BearerGuard, make_server
from projector.api import create_app
from projector.consumer import LogWentBackwards, Projector, ProjectorError
from projector.store import Store

log = logging.getLogger("callstream.projector")


@dataclass
class Outcome:
    fatal: str | None = None


def run_service(settings: Settings, host: str, port: int, db: Path) -> Outcome:
    """Run until SIGTERM/Ctrl-C or a fatal consumer error; return what happened."""
    profile = kafka.detect_profile(settings)
    # The consumer thread is CPU-bound; hand the GIL over more often than every 5 ms so the
    # API answers quickly while the projector catches up.
    sys.setswitchinterval(0.0002)
    store = Store(db, settings.topic(topics.CALL_STATUS))
    projector = Projector(settings, store, profile)
    app = create_app(db, BearerGuard(settings.api_token, host), projector.progress)
    server = make_server(app, host, port, "projector", graceful_s=5)
    outcome = Outcome()

    def consume() -> None:
        try:
            projector.run()
        except (LogWentBackwards, ProjectorError) as e:
            outcome.fatal = str(e)
        except sqlite3.Error as e:  # disk full, read-only file system, I/O error
            log.exception("consumer failed")
            outcome.fatal = (
                f"the database {db} failed: {type(e).__name__}: {e}; fix that (disk space, "
                "write access) and start the projector again: it resumes from the offsets "
                "stored in the file"
            )
        except Exception as e:  # anything else: stop loudly rather than serve stale data
            log.exception("consumer failed")
            outcome.fatal = f"the consumer failed: {type(e).__name__}: {e}"
        if outcome.fatal:
            projector.progress.fatal = outcome.fatal
            log.error("stopping", extra={"reason": outcome.fatal})
            server.should_exit = True

    # Our own handlers: uvicorn restores them and re-raises the signal once it has stopped,
    # which must not kill the process before the consumer has been stopped and joined.
    def on_signal(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=consume, name="projector-consumer", daemon=True)
    thread.start()
    try:
        server.run()
        if not server.started and outcome.fatal is None:
            outcome.fatal = f"could not listen on {host}:{port}"
    finally:
        projector.stop()
        thread.join(timeout=30)
        store.close()
        for s, h in previous.items():
            signal.signal(s, h)
    return outcome
