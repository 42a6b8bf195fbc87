"""The projector's HTTP API in its own process, fed the consumer's progress through a pipe.

Why a second process: the consumer is CPU-bound while it applies batches, and in one process
it would hold the GIL that the API needs, so a one-row ``GET /calls/{sid}`` would wait for
Python's thread switch instead of SQLite (several milliseconds at the tail). SQLite in WAL
mode lets a reader in another process run beside the writer, so the API process only needs
the database file and the consumer's progress for ``/readyz`` and ``/metrics``.

How they are tied together:

- The consumer's process binds the listening socket itself (a port still in use after
  ``BIND_RETRY_S`` is reported by this process, in one line) and hands it to the child,
  which serves on it. Connections that arrive
  while the child starts wait in the socket's backlog instead of being refused.
- It writes a :meth:`~projector.progress.Progress.snapshot` as one JSON line to the child's
  stdin every ``FEED_EVERY_S``. The child folds each line into its own
  :class:`~projector.progress.Progress`.
- End of that input means the consumer's process is stopping or gone: the child then shuts
  down. On Linux the child is also killed by the kernel if its parent dies (kill -9).
- If the child dies, the consumer's process stops too, with a message: a projector that
  cannot be queried is not silently left running.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from callstream.procs import die_with_parent
from projector.progress import Progress

log = logging.getLogger("callstream.projector")

FEED_EVERY_S = 0.05
BACKLOG = 2048  # uvicorn's default
BIND_RETRY_S = 3.0


def bind(host: str, port: int, retry_s: float = BIND_RETRY_S) -> socket.socket:
    """A listening TCP socket on ``host:port``, bound the way uvicorn binds its own.

    A port in use is tried again for ``retry_s``: right after a crash, the previous
    projector's API process may still be on its way out, holding the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + retry_s
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
        except BaseException as e:
            sock.close()
            in_use = isinstance(e, OSError) and e.errno == errno.EADDRINUSE
            if not in_use or time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
            continue
        sock.set_inheritable(True)
        return sock


class ApiProcess:
    """Start, feed and stop the API child. ``on_exit`` runs if the child dies on its own."""

    def __init__(
        self,
        db: Path,
        host: str,
        port: int,
        progress: Progress,
        on_exit: Callable[[str], None],
    ) -> None:
        self.db = db
        self.host = host
        self.port = port
        self.progress = progress
        self.on_exit = on_exit
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.pending = b""  # the part of a progress line the pipe has not taken yet
        self.feeder: threading.Thread | None = None

    def start(self) -> None:
        """Bind (raises OSError when the port is taken) and start the child.

        Call it from the main thread: on Linux the child asks to die with the thread that
        started it.
        """
        sock = bind(self.host, self.port)
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "projector.api_process",
                    "--fd",
                    str(sock.fileno()),
                    "--db",
                    str(self.db),
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--parent-pid",
                    str(os.getpid()),
                ],
                stdin=subprocess.PIPE,
                pass_fds=(sock.fileno(),),
                # its own process group: a Ctrl-C in the terminal stops the consumer, which
                # then stops the API, in that order
                process_group=0,
            )
        finally:
            sock.close()  # the child holds its own copy
        assert self.proc.stdin is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.feeder = threading.Thread(target=self._feed, name="projector-feed", daemon=True)
        self.feeder.start()

    def _send(self) -> bool:
        """Write the current progress without ever blocking; False once the pipe is gone.

        The pipe is non-blocking: a child that stops reading (paused, say) must not stall
        this process, even on its way out. A line the pipe took only part of is finished
        before a newer one starts, so lines never interleave; while the pipe is full, newer
        snapshots are skipped, which loses nothing, since each one carries all the state.
        """
        proc = self.proc
        if proc is None or proc.stdin is None:
            return False
        if not self.pending:
            snap = json.dumps(self.progress.snapshot(), separators=(",", ":"))
            self.pending = snap.encode() + b"\n"
        try:
            written = os.write(proc.stdin.fileno(), self.pending)
        except BlockingIOError:
            return True
        except (OSError, ValueError):  # the child is gone, or the pipe is closed
            return False
        self.pending = self.pending[written:]
        return True

    def _feed(self) -> None:
        assert self.proc is not None
        while not self.stopping.wait(FEED_EVERY_S):
            if not self._send() or self.proc.poll() is not None:
                break
        if self.stopping.is_set():
            return
        code = self.proc.wait()
        self.on_exit(
            f"the projector's API process exited (status {code}) while the consumer was "
            "running; see the lines above, then start the projector again"
        )

    def stop(self, timeout_s: float = 8.0) -> int | None:
        """Send the last progress, close the feed (the child then shuts down), and wait."""
        self.stopping.set()
        if self.feeder is not None:
            self.feeder.join(timeout=5)
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None and self._send() and not self.pending:
            self._send()  # the final state (a fatal error) reaches /readyz while it stops
        if proc.stdin is not None:
            with contextlib.suppress(OSError):  # the child is already gone
                proc.stdin.close()
        try:
            return proc.wait(timeout=timeout_s)  # end of input: a graceful stop (<= 5 s)
        except subprocess.TimeoutExpired:
            log.warning("the API process did not stop; killing it", extra={"pid": proc.pid})
            proc.kill()  # also ends a paused (SIGSTOP) child
            return proc.wait()


def serve_child(fd: int, db: Path, host: str, port: int, parent_pid: int) -> int:
    """The child: serve the API on the inherited socket until the feed ends or a signal."""
    die_with_parent(parent_pid)
    from callstream import logs
    from callstream.settings import Settings
    from callstream.web import BearerGuard, make_server
    from projector.api import create_app
    from projector.metrics import projector_registry

    settings = Settings.from_env(db=str(db))
    logs.configure("projector", settings.log_level)
    progress = Progress()
    app = create_app(
        db, BearerGuard(settings.api_token, host), progress, projector_registry(parent_pid)
    )
    server = make_server(app, host, port, "projector", graceful_s=5)
    sock = socket.socket(fileno=fd)

    def read_feed() -> None:
        for line in sys.stdin.buffer:
            try:
                progress.update(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                log.warning("unreadable progress line", extra={"error": str(e)})
        server.should_exit = True  # the consumer's process is stopping, or gone

    threading.Thread(target=read_feed, name="progress-feed", daemon=True).start()
    server.run(sockets=[sock])
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m projector.api_process",
        description="the projector's HTTP API; started by 'callstream projector', not by hand",
    )
    p.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--parent-pid", type=int, required=True, help="die when it does")
    a = p.parse_args(argv)
    return serve_child(a.fd, a.db, a.host, a.port, a.parent_pid)


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main())
