"""A count a client sent: ASCII digits only, bounded in length (callstream/digits.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callstream.digits import ascii_count


def test_ascii_digits_are_a_count() -> None:
    assert ascii_count("0") == 0
    assert ascii_count("42") == 42
    assert ascii_count("123456789") == 123456789


def test_unicode_digits_signs_spaces_and_long_runs_are_not() -> None:
    for raw in ("", "²", "٣", "\uff11", "-1", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "1" * 10):
        assert ascii_count(raw) is None, raw
    assert ascii_count("1" * 10, max_digits=10) == 1111111111
    assert ascii_count("9" * 5000) is None


@given(st.text(max_size=12))
def test_a_count_round_trips_or_is_refused(raw: str) -> None:
    got = ascii_count(raw)
    if got is None:
        assert not (raw and len(raw) <= 9 and all("0" <= c <= "9" for c in raw))
    else:
        assert str(got) == raw.lstrip("0") or (got == 0 and set(raw) == {"0"})
