"""Which Twilio answers are retried, rejected or in doubt; the backoff's bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.retry import Backoff, Failure, Verdict, classify


@pytest.mark.parametrize(
    ("failure", "verdict"),
    [
        (Failure(429, 20429, "Too many requests"), Verdict.RETRY),
        (Failure(503, 20429, "Too many requests"), Verdict.RETRY),
        (Failure(500, 20500, "Internal"), Verdict.VERIFY_THEN_RETRY),
        (Failure(503, 20503, "Unavailable"), Verdict.VERIFY_THEN_RETRY),
        (Failure(400, 21211, "Invalid 'To' Phone Number"), Verdict.REJECT),
        (Failure(400, 21626, "Invalid 'StatusCallbackEvent'"), Verdict.REJECT),
        (Failure(400, 21609, "Invalid 'StatusCallback'"), Verdict.REJECT),
        (Failure(400, 21201, "No 'To' number is specified"), Verdict.REJECT),
        (Failure(400, 21205, "Url parameter is required"), Verdict.REJECT),
        (Failure(401, 20003, "Authenticate"), Verdict.REJECT),
        (Failure(0, "connect-failed", "refused", sent=False), Verdict.RETRY),
        (Failure(0, "timeout", "read timed out"), Verdict.IN_DOUBT),
        (Failure(0, "connection-lost", "reset"), Verdict.IN_DOUBT),
        (Failure(200, None, "unreadable"), Verdict.IN_DOUBT),
    ],
)
def test_classify(failure: Failure, verdict: Verdict) -> None:
    assert classify(failure) is verdict


def test_error_shape_keeps_twilio_code_and_message() -> None:
    assert Failure(400, 21211, "Invalid 'To'").as_error() == {
        "code": 21211,
        "message": "Invalid 'To'",
        "status": 400,
    }


@given(st.floats(0.01, 5), st.floats(0.1, 120), st.integers(1, 40), st.integers(0, 2**32))
def test_backoff_grows_exponentially_within_jitter_and_cap(
    base: float, cap: float, attempt: int, seed: int
) -> None:
    b = Backoff(base_s=base, cap_s=cap)
    d = b.delay(attempt, random.Random(seed))
    ceiling = min(cap, base * 2 ** (attempt - 1))
    assert ceiling / 2 <= d <= ceiling


def test_backoff_gives_up() -> None:
    b = Backoff(max_attempts=3)
    assert [b.gives_up_after(n) for n in (1, 2, 3)] == [False, False, True]
