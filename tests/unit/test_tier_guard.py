"""The guard of tests/unit/conftest.py holds: a unit test cannot reach outside the process,
even when the code under test swallows the refusal."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.conftest import OutsideTheUnitTier


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


def test_a_swallowed_refusal_still_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(
        test_strays="""
        import socket

        def test_strays():
            with socket.socket() as s:
                try:
                    s.connect(("127.0.0.1", 1))
                except Exception:
                    pass  # as a reconnect loop would
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*outside the unit tier: this test opened a connection*"])


def test_an_event_loop_still_runs() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(answer()) == 42
