"""The guard of tests/unit/conftest.py holds: a unit test cannot reach outside the process."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from tests.unit.conftest import OutsideTheUnitTier


def test_a_unit_test_cannot_open_a_connection() -> None:
    with pytest.raises(OutsideTheUnitTier, match="no network"):
        socket.create_connection(("127.0.0.1", 1), timeout=0.1)
    with socket.socket() as s, pytest.raises(OutsideTheUnitTier):
        s.connect_ex(("127.0.0.1", 1))


def test_a_unit_test_cannot_bind_a_port() -> None:
    with socket.socket() as s, pytest.raises(OutsideTheUnitTier, match="bound a port"):
        s.bind(("127.0.0.1", 0))


def test_a_unit_test_cannot_start_a_subprocess() -> None:
    with pytest.raises(OutsideTheUnitTier, match="subprocess"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_an_event_loop_still_runs() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(answer()) == 42
