"""In-doubt call matching (docs/dialer.md, "In doubt and reconciliation"): candidates are
the listed calls with the same To and From, created no earlier than the attempt's
``sent_at`` minus 3 s (whole seconds, 2 s of clock difference), whose sid no outcome of the
partition already names. Pure: no broker, no network."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from dialer.matching import AMBIGUOUS, MATCHED, NOT_FOUND, match

TO, FROM = "+14155550100", "+14155550199"


@dataclass(frozen=True)
class Call:
    sid: str
    to: str | None = TO
    from_: str | None = FROM
    date_created: float | None = None


def test_one_candidate_matches() -> None:
    m = match([Call("CA1", date_created=1000.0)], TO, FROM, 1000.4, set())
    assert (m.status, m.sid, m.candidates) == (MATCHED, "CA1", ("CA1",))


def test_the_window_opens_three_seconds_before_the_whole_second_of_the_send() -> None:
    sent = 1000.9  # floor 1000, minus 1 s (whole seconds) and 2 s (clock difference)
    assert match([Call("CA1", date_created=997.0)], TO, FROM, sent, set()).status == MATCHED
    assert match([Call("CA1", date_created=996.9)], TO, FROM, sent, set()).status == NOT_FOUND


def test_calls_already_named_by_an_outcome_or_for_other_numbers_do_not_count() -> None:
    calls = [Call("CA1"), Call("CA2", to="+1999"), Call("CA3", from_="+1888"), Call("CA4")]
    m = match(calls, TO, FROM, None, {"CA1"})
    assert (m.status, m.sid) == (MATCHED, "CA4")
    assert match(calls, TO, FROM, None, {"CA1", "CA4"}).status == NOT_FOUND


def test_several_candidates_are_ambiguous_and_listed() -> None:
    m = match([Call("CA1"), Call("CA2", to=None, from_=None)], TO, FROM, None, set())
    assert (m.status, m.sid, m.candidates) == (AMBIGUOUS, None, ("CA1", "CA2"))


listed = st.builds(
    Call,
    sid=st.sampled_from(["CA1", "CA2", "CA3", "CA4", "CA5"]),
    to=st.sampled_from([TO, "+1999", None]),
    from_=st.sampled_from([FROM, "+1888", None]),
    date_created=st.one_of(st.none(), st.floats(min_value=900, max_value=1100)),
)


@given(
    st.lists(listed, max_size=8),
    st.one_of(st.none(), st.floats(min_value=900, max_value=1100)),
    st.sets(st.sampled_from(["CA1", "CA2", "CA3"])),
)
def test_the_candidates_are_exactly_the_calls_the_rule_admits(
    calls: list[Call], sent: float | None, known: set[str]
) -> None:
    floor = -math.inf if sent is None else math.floor(sent) - 3
    want = tuple(
        c.sid
        for c in calls
        if c.sid not in known
        and c.to in (TO, None)
        and c.from_ in (FROM, None)
        and (c.date_created is None or c.date_created >= floor)
    )
    m = match(calls, TO, FROM, sent, known)
    assert m.candidates == want
    assert m.status == {0: NOT_FOUND, 1: MATCHED}.get(len(want), AMBIGUOUS)
    assert m.sid == (want[0] if len(want) == 1 else None)
