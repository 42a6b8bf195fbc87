from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from kafka.admin import NewTopic

from callstream import kafka_clients, topics
from callstream.broker import BIN_ENV, BrokerError, EmbeddedBroker, find_binary
from callstream.settings import Settings
from tests.helpers import wait_until


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_binary_override_must_be_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(BIN_ENV, str(tmp_path / "nope"))
    with pytest.raises(BrokerError, match=BIN_ENV):
        find_binary()


def test_a_taken_port_is_an_error_not_a_silent_exit() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(BrokerError, match=str(port)):
            EmbeddedBroker(port=port).start(timeout_s=5)


def test_restart_on_the_same_port_loses_all_data(fresh_broker: EmbeddedBroker) -> None:
    s = Settings.from_env(env={}, kafka_bootstrap_servers=fresh_broker.bootstrap)
    name = f"r.{uuid.uuid4().hex[:6]}"
    admin = kafka_clients.make_admin(s)
    admin.create_topics([NewTopic(name, 1, 1)])
    assert name in admin.list_topics()
    admin.close()
    port = fresh_broker.port
    fresh_broker.restart()
    assert fresh_broker.port == port and fresh_broker.alive()
    admin = kafka_clients.make_admin(s)
    try:
        assert name not in admin.list_topics()
    finally:
        admin.close()


def test_broker_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys, time
        from callstream.broker import EmbeddedBroker
        b = EmbeddedBroker(); b.start()
        print(b.proc.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    broker_pid = int(parent.stdout.readline())
    assert _pid_alive(broker_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    wait_until(lambda: not _pid_alive(broker_pid), timeout=10, what="orphaned broker to die")


def test_cli_broker_prints_address_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "callstream.cli", "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    bootstrap = proc.stdout.readline().strip()
    assert bootstrap.startswith("127.0.0.1:")
    s = Settings.from_env(env={}, kafka_bootstrap_servers=bootstrap)
    admin = kafka_clients.make_admin(s)
    try:
        assert {t.name for t in s.topic_specs} <= set(admin.list_topics())
    finally:
        admin.close()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)
    assert proc.returncode == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(bootstrap.split(":")[1])), timeout=1)


def test_cli_topics_is_idempotent(fresh_broker: EmbeddedBroker) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": fresh_broker.bootstrap}
    first = subprocess.run(
        [sys.executable, "-m", "callstream.cli", "topics"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "twilio.call-status\t6 partitions\tcreated" in first.stdout
    second = subprocess.run(
        [sys.executable, "-m", "callstream.cli", "topics"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "created" not in second.stdout
    assert second.stdout.count("exists") == len(topics.ALL_TOPICS)


def test_cli_without_a_broker_says_so_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    r = subprocess.run(
        [sys.executable, "-m", "callstream.cli", "topics"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "KAFKA_BOOTSTRAP_SERVERS" in r.stderr
    assert "Traceback" not in r.stderr
