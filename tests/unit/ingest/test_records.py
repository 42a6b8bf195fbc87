"""Property tests for what ingest may produce (``ingest/records.py``, pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.records import MAX_RECORD, RECORD_OVERHEAD, check_producer_limit, size_problem

PRODUCER_LIMIT = 1024 * 1024


@given(key=st.integers(0, 64), value=st.integers(0, 2 * MAX_RECORD))
def test_size_problem_is_exactly_the_bound(key: int, value: int) -> None:
    problem = size_problem(b"k" * key, b"v" * value)
    assert (problem is None) == (key + value <= MAX_RECORD)
    if problem is not None:
        assert problem.status == 413 and problem.code == "record-too-large"


def test_the_producer_limit_leaves_room_for_the_bound() -> None:
    check_producer_limit(PRODUCER_LIMIT)  # the default in callstream.kafka_clients
    try:
        check_producer_limit(MAX_RECORD + RECORD_OVERHEAD - 1)
    except ValueError as e:
        assert "max_request_size" in str(e)
    else:
        raise AssertionError("a producer limit under the record bound was accepted")
