"""callstream.timefmt: the product's one UTC timestamp form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from callstream.timefmt import iso, now_iso

FORM = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


def test_received_at_is_the_envelope_time_format() -> None:
    before = datetime.now(UTC)
    value = now_iso()
    after = datetime.now(UTC)
    assert re.fullmatch(FORM, value)
    parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= parsed <= after


@given(st.integers(min_value=0, max_value=4_102_444_800), st.integers(0, 999_999))
def test_iso_round_trips_to_the_microsecond(sec: int, micro: int) -> None:
    value = iso(sec + micro / 1_000_000)
    assert re.fullmatch(FORM, value)
    back = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(back.timestamp() - (sec + micro / 1_000_000)) < 2e-6


def test_iso_names_the_epoch() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000000Z"
    assert iso(1_795_608_000.5) == "2026-11-25T12:00:00.500000Z"
