"""Properties of the pacing arithmetic (no clocks, no I/O)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.pacing import Pacer, Spacing

cps_values = st.floats(min_value=0.1, max_value=100, allow_nan=False)
margins = st.floats(min_value=0.0, max_value=0.05, allow_nan=False)
arrivals = st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=60)
accounts = st.sampled_from(["AC1", "AC2", "AC3"])


def simulate(pacer: Pacer, jobs: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """A scheduler in its simplest form: each job, in order of arrival, starts as soon as
    the pacer allows it."""
    starts = []
    for arrival, acct in sorted(jobs):
        ready = pacer.ready_at(acct)
        t = arrival if ready is None else max(arrival, ready)
        pacer.sent(acct, t)
        starts.append((t, acct))
    return starts


@given(cps_values, margins, st.lists(st.tuples(st.floats(0, 100), accounts), max_size=60))
def test_starts_for_one_account_are_at_least_a_step_apart(
    cps: float, margin: float, jobs: list[tuple[float, str]]
) -> None:
    spacing = Spacing.for_cps(cps, margin)
    starts = simulate(Pacer(spacing), jobs)
    for acct in {a for _, a in jobs}:
        ts = sorted(t for t, a in starts if a == acct)
        for a, b in itertools.pairwise(ts):
            assert b - a >= spacing.step_s - 1e-9
            assert b - a >= 1.0 / cps - 1e-9


@given(cps_values, margins, st.integers(min_value=1, max_value=200))
def test_a_backlog_of_n_takes_n_minus_one_steps(cps: float, margin: float, n: int) -> None:
    spacing = Spacing.for_cps(cps, margin)
    starts = simulate(Pacer(spacing), [(0.0, "AC1")] * n)
    assert starts[-1][0] == pytest.approx((n - 1) * spacing.step_s)


@given(cps_values, margins, arrivals)
def test_no_start_is_later_than_the_rule_requires(
    cps: float, margin: float, times: list[float]
) -> None:
    spacing = Spacing.for_cps(cps, margin)
    starts = simulate(Pacer(spacing), [(t, "AC1") for t in times])
    prev = None
    for (t, _), arrival in zip(starts, sorted(times), strict=True):
        expected = arrival if prev is None else max(arrival, prev + spacing.step_s)
        assert t == pytest.approx(expected)
        prev = t


@given(
    cps_values,
    st.floats(min_value=1e9, max_value=2e9),  # last send, wall clock
    st.floats(min_value=-5, max_value=5),  # now - last (wall)
    st.floats(min_value=0, max_value=1e6),  # monotonic now
)
def test_a_handover_waits_for_the_last_send_on_the_wall_clock(
    cps: float, last: float, since: float, mono: float
) -> None:
    spacing = Spacing.for_cps(cps)
    now_wall = last + since
    ready = spacing.handover_ready(last, now_wall, mono)
    assert ready >= mono
    start_wall = now_wall + (ready - mono)
    assert start_wall >= last + 1.0 / cps + spacing.handover_margin_s - 1e-6
    if since > 1.0 / cps + spacing.handover_margin_s:
        assert ready == mono  # no needless wait


@given(st.floats(0, 1e6), st.floats(0, 10), st.floats(1e9, 2e9))
def test_inherit_never_moves_a_start_earlier(mono: float, step_back: float, wall: float) -> None:
    pacer = Pacer(Spacing.for_cps(1))
    pacer.sent("AC1", mono)
    before = pacer.ready_at("AC1")
    pacer.inherit("AC1", wall - step_back - 100, wall, mono)  # an old send: no effect
    assert pacer.ready_at("AC1") == before


@given(
    cps_values,
    st.lists(st.tuples(st.floats(0, 0.5), st.floats(0, 1)), min_size=2, max_size=40),
)
def test_causal_spacing_holds_at_the_receiver_whatever_the_network_does(
    cps: float, attempts: list[tuple[float, float]]
) -> None:
    """Each create is received somewhere between its start and its answer: with causal
    spacing, every receiver gap is at least 1/CPS, for any round trip times and any point
    of reception within them."""
    pacer = Pacer(Spacing.for_cps(cps))
    windows = []
    now = 0.0
    for rtt, where in attempts:
        ready = pacer.ready_at("AC1")
        t0 = now if ready is None else max(now, ready)
        pacer.sent("AC1", t0)
        pacer.answered("AC1", t0 + rtt)
        windows.append((t0, t0 + rtt, t0 + where * rtt))
        now = t0 + rtt  # the next create can only start after this answer
    for (_, end_prev, _), (start_next, _, _) in itertools.pairwise(windows):
        # worst case: the previous received as late as possible, the next as early
        assert start_next - end_prev >= 1.0 / cps - 1e-9
    for (_, _, got_prev), (_, _, got_next) in itertools.pairwise(windows):
        assert got_next - got_prev >= 1.0 / cps - 1e-9


def test_spacing_needs_positive_cps() -> None:
    with pytest.raises(ValueError):
        Spacing.for_cps(0)
