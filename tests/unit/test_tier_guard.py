"""The guard of tests/unit/conftest.py holds: a unit test cannot reach outside the process,
even when the code under test swallows the refusal."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys

import pytest

from tests.unit.conftest import OutsideTheUnitTier, in_process_only


def test_a_unit_test_cannot_open_a_connection(unit_tier_guard: list[str]) -> None:
    with pytest.raises(OutsideTheUnitTier, match="no network"):
        socket.create_connection(("localhost", 1), timeout=0.1)
    with socket.socket() as s, pytest.raises(OutsideTheUnitTier):
        s.connect(("127.0.0.1", 1))
    with socket.socket() as s, pytest.raises(OutsideTheUnitTier):
        s.connect_ex(("127.0.0.1", 1))
    assert unit_tier_guard == ["looked up a host name"] + ["opened a connection"] * 2
    unit_tier_guard.clear()  # seen: the guard worked


def test_a_unit_test_cannot_bind_a_port(unit_tier_guard: list[str]) -> None:
    with socket.socket() as s, pytest.raises(OutsideTheUnitTier, match="bound a port"):
        s.bind(("127.0.0.1", 0))
    unit_tier_guard.clear()


def test_a_unit_test_cannot_start_a_subprocess(unit_tier_guard: list[str]) -> None:
    with pytest.raises(OutsideTheUnitTier, match="subprocess"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    unit_tier_guard.clear()


def test_a_swallowed_refusal_still_fails_the_test(unit_tier_guard: list[str]) -> None:
    with (
        pytest.raises(pytest.fail.Exception, match="outside the unit tier: this test opened"),
        in_process_only(),
        socket.socket() as s,
        contextlib.suppress(Exception),  # as a reconnect loop would
    ):
        s.connect(("127.0.0.1", 1))
    unit_tier_guard.clear()


def test_an_event_loop_still_runs() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(answer()) == 42
