"""The archive's pure core: header bytes, the gap check, the target check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstream.archive_format import (
    NotRestorable,
    check_contiguous,
    check_target,
    decode_headers,
    encode_headers,
)

headers = st.lists(
    st.tuples(st.text(max_size=20), st.one_of(st.none(), st.binary(max_size=40))), max_size=6
)


@given(headers)
def test_headers_round_trip_exactly(hs: list[tuple[str, bytes | None]]) -> None:
    blob = encode_headers(hs)
    assert decode_headers(blob) == tuple(hs)
    assert (blob is None) == (not hs)


@given(st.integers(0, 200))
def test_contiguous_offsets_count(n: int) -> None:
    assert check_contiguous("t", 0, range(n)) == n


@given(st.lists(st.integers(0, 50), min_size=1, unique=True).map(sorted))
def test_any_gap_or_late_start_is_refused(offsets: list[int]) -> None:
    if offsets == list(range(len(offsets))):
        assert check_contiguous("t", 3, offsets) == len(offsets)
    else:
        with pytest.raises(NotRestorable, match=r"t partition 3 (starts at|has a gap at)"):
            check_contiguous("t", 3, offsets)


def test_gap_message_names_the_first_missing_offset() -> None:
    with pytest.raises(NotRestorable, match=r"has a gap at offset 2 .*nothing was written"):
        check_contiguous("t", 0, [0, 1, 3])
    with pytest.raises(NotRestorable, match="starts at offset 5"):
        check_contiguous("t", 0, [5, 6])


def test_target_checks() -> None:
    check_target("t", 6, 6, {0: 0, 5: 0})
    check_target("t", 6, None, {})
    with pytest.raises(NotRestorable, match="has 4 partitions but the archive has 6"):
        check_target("t", 6, 4, {})
    with pytest.raises(NotRestorable, match=r"not empty \(partition 2 ends at offset 7\)"):
        check_target("t", 6, 6, {0: 0, 2: 7, 3: 1})
