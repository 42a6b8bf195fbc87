"""The pacing rule of docs/dialer.md ("Pacing"), pinned by name.

Every figure below is the one the docs state, not one read from ``dialer.pacing``: creates
for one account at least ``1/CPS`` apart, and a backlog as fast as that allows (start +
1/CPS + 5 ms with causal spacing, 15 ms with ``--spacing start``, answer + 1/CPS with
causal spacing), and a handover waits until the last ``sent_at`` + 1/CPS + 100 ms. So a
pacer running at half the allowed rate fails here, as one running too fast does.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.pacing import Pacer, Spacing

CAUSAL_MARGIN = 0.005  # docs/dialer.md: "the margin is 5 ms"
START_MARGIN = 0.015  # "or 15 ms with --spacing start"
HANDOVER_MARGIN = 0.100  # "waits until that time + 1/CPS + 100 ms"
EPS = 1e-9

cps_values = st.floats(min_value=0.1, max_value=100, allow_nan=False)
rtts = st.floats(min_value=0, max_value=2, allow_nan=False)


def backlog(pacer: Pacer, n: int, account: str = "AC1", rtt: float = 0.0) -> list[float]:
    """Start ``n`` queued creates for ``account`` as early as the pacer allows; each
    answer comes back ``rtt`` after its start."""
    starts: list[float] = []
    now = 0.0
    for _ in range(n):
        ready = pacer.ready_at(account)
        t = now if ready is None else max(now, ready)
        pacer.sent(account, t)
        pacer.answered(account, t + rtt)
        starts.append(t)
        now = t
    return starts


def mean_gap(starts: list[float]) -> float:
    return (starts[-1] - starts[0]) / (len(starts) - 1)


@given(cps_values, st.integers(min_value=2, max_value=100))
def test_pacing_interval_bounds_the_mean_gap_from_both_sides(cps: float, n: int) -> None:
    """A backlog goes at CPS: the mean gap is at least 1/CPS and at most 1/CPS plus the
    documented 5 ms margin (an answer that comes back at once adds nothing)."""
    starts = backlog(Pacer(Spacing.for_cps(cps)), n)
    assert 1 / cps - EPS <= mean_gap(starts) <= 1 / cps + CAUSAL_MARGIN + EPS
    for a, b in itertools.pairwise(starts):
        assert b - a >= 1 / cps - EPS


@given(cps_values, st.integers(min_value=2, max_value=100), rtts)
def test_pacing_interval_with_spacing_start_ignores_the_answers(
    cps: float, n: int, rtt: float
) -> None:
    """``--spacing start``: 1/CPS + 15 ms between starts, however slow the answers."""
    starts = backlog(Pacer(Spacing.for_cps(cps, causal=False)), n, rtt=rtt)
    assert mean_gap(starts) == pytest.approx(1 / cps + START_MARGIN, rel=1e-9, abs=1e-9)


@given(cps_values, st.integers(min_value=2, max_value=50), rtts)
def test_pacing_interval_with_causal_spacing_counts_from_the_answer(
    cps: float, n: int, rtt: float
) -> None:
    """Causal spacing: the later of start + 1/CPS + 5 ms and answer + 1/CPS."""
    starts = backlog(Pacer(Spacing.for_cps(cps)), n, rtt=rtt)
    expected = max(1 / cps + CAUSAL_MARGIN, rtt + 1 / cps)
    for a, b in itertools.pairwise(starts):
        assert b - a == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_pacing_interval_at_the_default_one_call_per_second() -> None:
    """Twilio's default, CALLSTREAM_CPS=1: ten queued creates take 9 s plus nine margins."""
    starts = backlog(Pacer(Spacing.for_cps(1)), 10)
    assert starts[-1] - starts[0] == pytest.approx(9 * (1 + CAUSAL_MARGIN))
    starts = backlog(Pacer(Spacing.for_cps(1, causal=False)), 10, rtt=0.5)
    assert starts[-1] - starts[0] == pytest.approx(9 * (1 + START_MARGIN))


def test_pacing_interval_margin_can_be_set_explicitly() -> None:
    """``--margin`` style override: the margin given is the margin used, either spacing."""
    for causal in (True, False):
        spacing = Spacing.for_cps(4, 0.02, causal=causal)
        assert spacing.step_s == pytest.approx(0.25 + 0.02)
        assert spacing.causal is causal


def test_pacing_needs_a_positive_rate() -> None:
    for cps in (0, -1, -0.5):
        with pytest.raises(ValueError, match=r"^cps must be positive$"):
            Spacing.for_cps(cps)
    assert Spacing.for_cps(1e-3).interval_s == pytest.approx(1000)


def test_pacing_is_per_account() -> None:
    """One account's sends never hold another's back; an account never sent to is free."""
    pacer = Pacer(Spacing.for_cps(1))
    assert pacer.ready_at("AC1") is None
    pacer.sent("AC1", 10.0)
    assert pacer.ready_at("AC2") is None
    assert pacer.ready_at("AC1") == pytest.approx(11 + CAUSAL_MARGIN)


def test_pacing_answer_never_moves_the_next_start_earlier() -> None:
    pacer = Pacer(Spacing.for_cps(1))
    pacer.sent("AC1", 10.0)
    pacer.answered("AC1", 9.0)  # an answer cannot precede its start; the bound holds
    assert pacer.ready_at("AC1") == pytest.approx(11 + CAUSAL_MARGIN)
    pacer.answered("AC1", 10.5)
    assert pacer.ready_at("AC1") == pytest.approx(11.5)


@given(
    cps_values,
    st.floats(min_value=1e9, max_value=2e9),  # the last sent_at in the ledger (wall clock)
    st.floats(min_value=-5, max_value=5),  # now - sent_at on the wall clock
    st.floats(min_value=0, max_value=1e6),  # now on this process's monotonic clock
)
def test_pacing_handover_waits_until_sent_at_plus_interval_plus_100ms(
    cps: float, last: float, since: float, mono: float
) -> None:
    """A new owner's first create starts exactly at sent_at + 1/CPS + 100 ms (wall clock),
    or at once when that time has passed: not earlier, and not later either."""
    pacer = Pacer(Spacing.for_cps(cps))
    now_wall = last + since
    pacer.inherit("AC1", last, now_wall, mono)
    ready = pacer.ready_at("AC1")
    assert ready is not None
    due_wall = last + 1 / cps + HANDOVER_MARGIN
    expected = mono + max(0.0, due_wall - now_wall)
    assert ready == pytest.approx(expected, rel=1e-12, abs=1e-6)


def test_pacing_handover_keeps_a_later_local_bound() -> None:
    """Inheriting an older send never moves a start this process already planned later."""
    pacer = Pacer(Spacing.for_cps(1))
    pacer.sent("AC1", 100.0)
    pacer.inherit("AC1", last_sent_wall=5_000.0, now_wall=5_000.5, now_mono=100.2)
    assert pacer.ready_at("AC1") == pytest.approx(101 + CAUSAL_MARGIN)
    pacer.inherit("AC1", last_sent_wall=5_001.0, now_wall=5_000.5, now_mono=100.2)
    assert pacer.ready_at("AC1") == pytest.approx(100.2 + 0.5 + 1 + HANDOVER_MARGIN)
