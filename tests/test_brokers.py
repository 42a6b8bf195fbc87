"""The test suite's own broker choice (tests/brokers.py) when the named broker is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from callstream.broker import free_port
from tests.brokers import unreachable

ROOT = Path(__file__).resolve().parents[1]


def test_unreachable_names_every_address_that_refused() -> None:
    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen()
        up = f"127.0.0.1:{live.getsockname()[1]}"
        dead = f"127.0.0.1:{free_port()}"
        assert unreachable(f"{dead},{up}") == ""
        why = unreachable(dead)
        assert why.startswith(f"{dead}: ") and "refused" in why.lower()


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_dead_kafka_bootstrap_servers_does_not_stop_tests_that_need_no_broker() -> None:
    """The check runs when a test first asks for the broker: the unit tier (the fast loop)
    runs whatever the shell's KAFKA_BOOTSTRAP_SERVERS says."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    run = _pytest(env, "tests/unit/callstream/test_timefmt.py")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout, run.stdout


def test_a_dead_kafka_bootstrap_servers_stops_the_session_with_one_line() -> None:
    """E.g. a shell that sourced callstream-up.env after 'callstream up' stopped."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    env.pop("CALLSTREAM_KAFKA_PROFILE", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_broker_contract.py::test_idempotent_producer_acks_all",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    out = run.stdout + run.stderr
    assert "does not answer" in out and "unset KAFKA_BOOTSTRAP_SERVERS" in out, out
