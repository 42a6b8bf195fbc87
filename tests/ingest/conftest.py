from __future__ import annotations

import gc
import logging
import warnings
from collections.abc import Iterator

import pytest

# For tests that kill the broker: the mark silences the warning during the test, the
# fixture collects what is left at its end.
SOCKET_LEAK_FILTER = "ignore:unclosed <socket:ResourceWarning"


@pytest.fixture
def kafka_socket_leaks() -> Iterator[None]:
    """kafka-python 3.0.12 does not close a socket whose connect failed (kafka/net/inet.py),
    so a test that kills the broker leaves some for the garbage collector, which warns.
    Collect them at the end of the test with that one warning silenced. kafka-python's log
    records (kept by pytest's log capture) would hold them past that point through their
    tracebacks, so its logger is quiet meanwhile."""
    kafka_log = logging.getLogger("kafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)
    try:
        yield
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ResourceWarning, message="unclosed <socket")
            gc.collect()
    finally:
        kafka_log.setLevel(level)
