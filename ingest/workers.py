"""``callstream ingest --workers N``: N ingest processes on one port, and the supervisor
that runs them.

The supervisor binds the listening socket once and starts N workers
(``ingest.workers_child``) that inherit it; the kernel hands each new connection to one of
them. A worker is a whole ingest: its own Kafka producer, its own spool file
(``ingest.workers_spool``), its own drain. So each keeps the single process's guarantee:
``204`` only once the callback is acknowledged by Kafka or committed to its spool, and the
callbacks it answered reach the topic in the order it answered them. Callbacks of one call
that reach different workers may reach the topic in another order than they were answered
in (each worker's spool drains on its own); the projector's order independence covers
that, as it covers Twilio's own reordering.

The supervisor:

* restarts a worker that exits (it drains its own spool again at start, so nothing it
  committed waits for long), and stops everything with one line and exit status 2 when a
  worker keeps exiting soon after its start (``MAX_FAST_FAILURES`` in a row);
* on SIGTERM or Ctrl-C forwards SIGTERM to every worker (each answers what it holds,
  flushes its producer, closes its spool) and exits 0 once they are gone. Workers run in a
  process group of their own, so a terminal's Ctrl-C reaches the supervisor only, and each
  worker stops itself when the supervisor is gone, even after ``kill -9``;
* keeps the directory of prometheus-client's multiprocess files, so ``/metrics`` on any
  worker shows every worker's counters summed (``ingest.metrics``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from types import FrameType

from callstream.errors import StartupError
from callstream.settings import Settings
from ingest.bootstrap import check_spool, create_app
from ingest.metrics import MULTIPROC_ENV
from ingest.workers_spool import worker_spool

log = logging.getLogger("callstream.ingest")

FAST_EXIT_S = 10.0  # a worker that exits sooner than this after its start failed fast
MAX_FAST_FAILURES = 3  # in a row, for one worker: then the supervisor gives up
STOP_TIMEOUT_S = 40.0  # a worker's graceful shutdown (10 s) and producer flush (10 s), and more


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen[bytes]
    started: float
    fast_failures: int = 0


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        host: str,
        port: int,
        workers: int,
        child: tuple[str, ...] = ("-m", "ingest.workers_child"),
    ) -> None:
        self.settings = settings
        self.child = child  # what the interpreter runs for a worker (tests: one that dies)
        self.host = host
        self.port = port
        self.n = workers
        self.workers: dict[int, Worker] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sock: socket.socket | None = None
        self._metrics_dir = ""
        self._parent_r = self._parent_w = -1

    def check(self) -> None:
        """Every setting and every worker's spool, before anything starts (one line)."""
        create_app(self.settings, bind_host=self.host)
        for i in range(self.n):
            spool = worker_spool(self.settings.spool, i, self.n)
            check_spool(dataclasses.replace(self.settings, spool=spool))

    def run(self) -> int:
        self.check()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._sock = socket.create_server(
            (self.host.strip("[]"), self.port), family=family, backlog=2048
        )
        self._metrics_dir = tempfile.mkdtemp(prefix="callstream-ingest-metrics-")
        self._parent_r, self._parent_w = os.pipe()
        previous = {
            s: signal.signal(s, self._on_signal)
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
        }
        log.info(
            "starting workers",
            extra={"workers": self.n, "host": self.host, "port": self.port, "pid": os.getpid()},
        )
        try:
            for i in range(self.n):
                self._start(i)
            self._watch()
        finally:
            self._stop_all()
            for s, h in previous.items():
                signal.signal(s, h)
            os.close(self._parent_r)
            os.close(self._parent_w)
            self._sock.close()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
        log.info("all workers stopped")
        return 0

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGCHLD:
            self._stop.set()
        self._wake.set()

    def _start(self, index: int, fast_failures: int = 0) -> None:
        assert self._sock is not None
        fd = self._sock.fileno()
        cmd = [sys.executable, *self.child, "--fd", str(fd)]
        cmd += ["--index", str(index), "--workers", str(self.n), "--host", self.host]
        cmd += ["--port", str(self.port), "--parent", str(self._parent_r)]
        proc = subprocess.Popen(
            cmd,
            pass_fds=(fd, self._parent_r),
            env={**os.environ, MULTIPROC_ENV: self._metrics_dir},
            stdin=subprocess.DEVNULL,
            process_group=0,  # Ctrl-C reaches the supervisor, which stops the workers
        )
        self.workers[index] = Worker(index, proc, time.monotonic(), fast_failures)
        log.info("worker started", extra={"worker": index, "pid": proc.pid})

    def _watch(self) -> None:
        while not self._stop.is_set():
            # SIGCHLD sets _wake; the timeout only bounds a missed one
            self._wake.wait(1.0)
            self._wake.clear()
            for w in list(self.workers.values()):
                status = w.proc.poll()
                if status is not None and not self._stop.is_set():
                    self._restart(w, status)

    def _restart(self, w: Worker, status: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(w.proc.pid, self._metrics_dir)  # type: ignore[no-untyped-call]
        fast = time.monotonic() - w.started < FAST_EXIT_S
        failures = w.fast_failures + 1 if fast else 0
        log.warning(
            "worker exited; restarting it",
            extra={"worker": w.index, "pid": w.proc.pid, "status": status},
        )
        if failures >= MAX_FAST_FAILURES:
            raise StartupError(
                f"worker {w.index} exited {failures} times within {FAST_EXIT_S:.0f} s of its "
                f"start (last status {status}); stopped all workers (see the log lines above)"
            )
        if failures and self._stop.wait(0.5 * failures):  # a short back-off
            return
        self._start(w.index, failures)

    def _stop_all(self) -> None:
        live = [w for w in self.workers.values() if w.proc.poll() is None]
        for w in live:
            w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for w in live:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker did not stop in time; killed", extra={"worker": w.index})
                w.proc.kill()
                w.proc.wait()


def run_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    from callstream import logs

    logs.configure("ingest", settings.log_level)
    return Supervisor(settings, host, port, workers).run()
