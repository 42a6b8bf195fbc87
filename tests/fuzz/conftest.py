"""Prints how many fuzz cases each route received (also recorded in docs/reliability.md)."""

from __future__ import annotations

import pytest

from tests.fuzz.support import summary_lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = summary_lines()
    if lines:
        terminalreporter.section("fuzz summary")
        for line in lines:
            terminalreporter.write_line(line)
