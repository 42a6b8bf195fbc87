"""``callstream up``: the whole product from one command, stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from callstream.broker import free_port
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


class Up:
    def __init__(self, tmp: Path, *extra: str, extra_env: dict[str, str] | None = None) -> None:
        names = ("ingest", "projector", "dialer", "archive", "emulator", "broker", "reconciler")
        self.ports = {n: free_port() for n in names}
        argv = [sys.executable, "-m", "callstream.cli", "up", "--logs", str(tmp / "logs"), *extra]
        for name, port in self.ports.items():
            argv += [f"--{name}-port", str(port)]
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CALLSTREAM_", "TWILIO_", "KAFKA_"))
        }
        env["CALLSTREAM_DB"] = str(tmp / "callstream.db")
        env["CALLSTREAM_SPOOL"] = str(tmp / "spool.db")
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            argv,
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 90) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None and text not in self.output():
                raise AssertionError(f"up exited ({self.proc.returncode}):\n{self.output()}")
            return text in self.output()

        wait_until(seen, timeout=timeout, what=repr(text))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=60)
        self.reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return rc


def _closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return False
    except OSError:
        return True


def test_up_runs_everything_and_ctrl_c_stops_all_of_it(tmp_path: Path) -> None:
    up = Up(tmp_path)
    try:
        up.wait_for("Ctrl-C stops everything.")  # the last line of the "try this" block
        out = up.output()
        for name in ("ingest", "projector", "dialer", "emulator", "reconciler"):
            url = f"http://127.0.0.1:{up.ports[name]}"
            assert url in out, f"{name} URL not printed"
            assert httpx.get(url + "/livez", timeout=5).status_code == 200
        assert "callstream dial --to" in out and "callstream calls" in out  # bare or a path
        env_file = (tmp_path / "callstream-up.env").read_text()
        assert f"KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{up.ports['broker']}" in env_file
        assert "TWILIO_AUTH_TOKEN" not in env_file  # no secrets on disk
    finally:
        rc = up.stop()
    assert rc == 0, up.output()
    for name, port in up.ports.items():
        assert _closed(port), f"{name} still listening on {port} after Ctrl-C"
    assert "Traceback" not in up.output()


def test_up_demo_calls_reach_their_final_states(tmp_path: Path) -> None:
    up = Up(tmp_path, "--demo", "--speed", "4")
    try:
        up.wait_for("every demo call reached its final state", timeout=120)
        out = up.output()
        for status in ("completed", "busy", "no-answer", "failed"):
            assert status in out
        listing = subprocess.run(
            [sys.executable, "-m", "callstream.cli", "calls", "--json"],
            env={**os.environ, "CALLSTREAM_DB": str(tmp_path / "callstream.db")},
            capture_output=True,
            text=True,
            check=True,
        )
        assert listing.stdout.count("CA") >= 6
    finally:
        assert up.stop() == 0, up.output()


def test_up_refuses_a_taken_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "callstream.cli",
                "up",
                "--ingest-port",
                str(taken),
                "--logs",
                str(tmp_path / "logs"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")},
        )
    assert r.returncode == 2
    assert f"port {taken}" in r.stderr and "--ingest-port" in r.stderr
    assert "Traceback" not in r.stderr
