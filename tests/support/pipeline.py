"""The real pipeline as subprocesses on loopback: ``callstream broker``, ``emulator``,
``ingest``, ``projector`` and ``dialer``, each killable (SIGKILL) and restartable.

Used by the fault, fuzz and end-to-end tests. Every process runs the installed CLI, the
way an operator runs it, and logs to a file in the test's tmp folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from callstream.broker import free_port
from callstream.procs import child_preexec
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until

CLI = [sys.executable, "-m", "callstream"]


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready: str | None = "/readyz", timeout: float = 60) -> Proc:
        self._close()  # the previous run's handle, when that process exited by itself
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=child_preexec(),
        )
        if ready and self.port:
            self.wait_ready(ready, timeout)
        return self

    def wait_ready(self, path: str = "/readyz", timeout: float = 60) -> None:
        def ok() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                return httpx.get(self.url + path, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ok, timeout=timeout, interval=0.05, what=f"{self.name} {path}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close()

    def terminate(self, timeout: float = 20) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()
        return None if self.proc is None else self.proc.returncode

    def restart(self, ready: str | None = "/readyz") -> Proc:
        self.kill9()
        return self.start(ready)

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class Pipeline:
    """Build the processes; start the ones a test needs, in order."""

    def __init__(self, tmp: Path, bootstrap: str | None = None, **env: str) -> None:
        self.tmp = tmp
        self.procs: dict[str, Proc] = {}
        self.broker_port = free_port()
        self.bootstrap = bootstrap or f"127.0.0.1:{self.broker_port}"
        ports = {n: free_port() for n in ("emulator", "ingest", "projector", "dialer")}
        self.env: dict[str, str] = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "TWILIO_"))},
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "CALLSTREAM_PUBLIC_URL": f"http://127.0.0.1:{ports['ingest']}",
            "TWILIO_API_URL": f"http://127.0.0.1:{ports['emulator']}",
            "CALLSTREAM_DB": str(tmp / "callstream.db"),
            "CALLSTREAM_SPOOL": str(tmp / "spool.db"),
            "CALLSTREAM_LOG_LEVEL": "INFO",
            **env,
        }
        if bootstrap is None:
            self.env["CALLSTREAM_KAFKA_PROFILE"] = "tansu"
            self.procs["broker"] = Proc(
                "broker",
                [*CLI, "broker", "--port", str(self.broker_port)],
                self.env,
                tmp / "broker.log",
            )
        for name, port in ports.items():
            self.procs[name] = Proc(
                name,
                [*CLI, name, "--host", "127.0.0.1", "--port", str(port)],
                self.env,
                tmp / f"{name}.log",
                port,
            )

    def __getitem__(self, name: str) -> Proc:
        return self.procs[name]

    def add(self, name: str, base: str, *extra: str, **env: str) -> Proc:
        """Another process of kind ``base`` (a second dialer, say) with its own port."""
        port = free_port()
        p = Proc(
            name,
            [*CLI, base, "--host", "127.0.0.1", "--port", str(port), *extra],
            {**self.env, **env},
            self.tmp / f"{name}.log",
            port,
        )
        self.procs[name] = p
        return p

    def start_broker(self) -> None:
        b = self.procs["broker"]
        b.start(ready=None)
        # 'callstream broker' prints its address once topics exist; wait on the log line
        wait_until(
            lambda: '"ready"' in b.log_text() or not b.alive(), timeout=30, what="broker ready"
        )
        assert b.alive(), b.tail()

    def start(self, *names: str, **kw: Any) -> None:
        for n in names:
            if n == "broker":
                self.start_broker()
            else:
                self.procs[n].start(**kw)

    def stop_all(self) -> None:
        for name in ("dialer", "ingest", "projector", "emulator"):
            if name in self.procs:
                self.procs[name].kill9()
        for name, p in self.procs.items():
            if name != "broker":
                p.kill9()
        if "broker" in self.procs:
            self.procs["broker"].kill9()

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.procs.values())

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def monotonic_deadline(seconds: float) -> float:
    return time.monotonic() + seconds
