"""callstream.reach: telling a Kafka broker from a dead port, a silent one and a web server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from callstream.errors import CliError
from callstream.reach import probe, require_broker, unreachable
from tests.brokers import TestBroker


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


def address(s: socket.socket) -> str:
    return f"127.0.0.1:{s.getsockname()[1]}"


def test_the_broker_answers(broker: TestBroker) -> None:
    assert unreachable(broker.bootstrap) == ""
    require_broker(broker.bootstrap)


def test_probe_passes_a_broker_and_raises_connection_error_without_one(
    broker: TestBroker,
) -> None:
    probe(broker.bootstrap)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = address(s)
    with pytest.raises(ConnectionError, match=rf"no Kafka broker answers at {dead}: .*refused"):
        probe(dead, timeout_s=1.0)


def test_a_closed_port_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = address(s)
    assert "refused" in unreachable(dead).lower()
    with pytest.raises(CliError, match=rf"cannot reach Kafka at {dead} \(--flag\).*running\?"):
        require_broker(dead, "--flag")


def test_a_port_that_never_answers_times_out(listener: socket.socket) -> None:
    assert "no answer" in unreachable(address(listener), timeout_s=0.3)


def test_a_web_server_is_not_a_broker(listener: socket.socket) -> None:
    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(100)
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert "not a Kafka broker" in unreachable(address(listener))
    t.join(timeout=5)


def test_one_live_address_of_several_is_enough(broker: TestBroker) -> None:
    assert unreachable(f"127.0.0.1:1,{broker.bootstrap}") == ""
    assert unreachable("localhost") != ""  # no port: not an address
