"""The unit tier's rule, enforced: no broker, no network, no subprocess.

Every test under tests/unit runs with socket connects and binds and process starts
replaced by a failure naming the rule, so a test that strays from the tier fails instead of
quietly needing a broker (``KAFKA_BOOTSTRAP_SERVERS`` may even point at a closed port).
Socket pairs stay allowed: asyncio's event loop wakes itself through one.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class OutsideTheUnitTier(AssertionError):
    """A unit test reached outside the process."""


def _refuse(what: str, seen: list[str]) -> Any:
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        seen.append(what)
        raise OutsideTheUnitTier(
            f"tests/unit needs no network and no subprocess, but this test {what}; "
            "fake the port (see docs/architecture.md) or move the test to the integration tier"
        )

    return refused


@contextmanager
def in_process_only() -> Iterator[list[str]]:
    """Refuse, and remember: product code catches broad exceptions around its ports (a
    failed connect means "Kafka is down, spool it"), so the refusal alone could pass
    unnoticed; leaving the block fails all the same."""
    seen: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _refuse("opened a connection", seen))
        mp.setattr(socket.socket, "connect_ex", _refuse("opened a connection", seen))
        mp.setattr(socket.socket, "bind", _refuse("bound a port", seen))
        mp.setattr(socket, "getaddrinfo", _refuse("looked up a host name", seen))
        mp.setattr(subprocess.Popen, "__init__", _refuse("started a subprocess", seen))
        yield seen
    if seen:
        pytest.fail(f"outside the unit tier: this test {', '.join(dict.fromkeys(seen))}")


@pytest.fixture(autouse=True)
def unit_tier_guard() -> Iterator[list[str]]:
    """Every unit test runs :func:`in_process_only`; a test that means to trip it (the
    guard's own tests) clears the list it gets."""
    with in_process_only() as seen:
        yield seen
