"""Prints each scenario's figures at the end of the run (also without ``-s``), and writes
them as JSON to ``$CALLSTREAM_FAULTS_REPORT`` when that is set."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.faults.support import OPEN_WATCHERS, REPORT


@pytest.fixture(autouse=True)
def _close_topic_watchers() -> Iterator[None]:
    yield
    for w in list(OPEN_WATCHERS):
        w.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT:
        return
    terminalreporter.section("fault injection figures")
    for fig in REPORT:
        extra = "".join(f" {k}={v}" for k, v in fig["extra"].items())
        terminalreporter.write_line(
            f"{fig['scenario']}: sent={fig['sent']} acknowledged={fig['acked']} "
            f"lost={fig['lost']} duplicated={fig['duplicated']} "
            f"recovery={fig['recovery_s']:.2f}s{extra}"
        )
    path = os.environ.get("CALLSTREAM_FAULTS_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(REPORT, f, indent=2)
