"""The reconciler's scheduling rules (reconciler/policy.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.policy import (
    Failed,
    Found,
    Limited,
    NotFound,
    Pace,
    Policy,
    Seen,
    Track,
    due,
    on_answer,
    on_created,
    on_event,
)

SID = "CA" + "3" * 32
ACC = "AC" + "4" * 32
P = Policy(after=100.0, in_progress_factor=5.0, max_backoff=1000.0, max_attempts=4)


def cb(track: Track | None, status: str, seq: int, at: float) -> Track:
    return on_event(track, Seen(SID, ACC, status, seq, at, snapshot=False), P)


def test_a_ringing_call_is_asked_about_after_the_window() -> None:
    t = cb(None, "ringing", 1, 1000.0)
    assert t.next_ask_at == 1100.0
    assert not due(t, 1099.9) and due(t, 1100.0)


def test_a_call_in_progress_waits_longer() -> None:
    assert cb(None, "in-progress", 2, 1000.0).next_ask_at == 1500.0


def test_a_terminal_callback_ends_the_asking() -> None:
    t = cb(cb(None, "ringing", 1, 0.0), "completed", 3, 5.0)
    assert t.terminal and not t.pending


def test_an_older_callback_arriving_late_does_not_move_the_status_back() -> None:
    t = cb(cb(None, "in-progress", 2, 10.0), "ringing", 1, 20.0)
    assert t.status == "in-progress"
    assert t.next_ask_at == 20.0 + 500.0  # but the call is alive: its silence counts anew


def test_a_dialed_call_with_no_callback_is_asked_about() -> None:
    t = on_created(None, SID, ACC, 50.0, P)
    assert t.status is None and t.next_ask_at == 150.0
    # a callback that arrives first keeps its own schedule
    t2 = cb(None, "ringing", 1, 40.0)
    assert on_created(t2, SID, ACC, 50.0, P) == t2


def test_a_terminal_answer_settles_and_stops() -> None:
    t = on_answer(cb(None, "ringing", 1, 0.0), Found("no-answer"), 100.0, P)
    assert t.terminal and not t.pending and t.status == "no-answer"


def test_a_live_answer_backs_off_then_gives_up() -> None:
    t = cb(None, "ringing", 1, 0.0)
    waits = []
    now = 100.0
    while t.pending:
        t = on_answer(t, Found("ringing"), now, P)
        if t.next_ask_at is not None:
            waits.append(t.next_ask_at - now)
            now = t.next_ask_at
    assert waits == [100.0, 200.0, 400.0]
    assert t.gave_up and t.attempts == 4


def test_the_backoff_is_capped() -> None:
    t = Track(SID, ACC, "in-progress", 2, 0.0, attempts=2)
    t = on_answer(t, Found("in-progress"), 0.0, P)
    assert t.next_ask_at == 1000.0  # 500 * 2**2 = 2000, capped


def test_a_404_is_recorded_once_and_never_asked_again() -> None:
    t = on_answer(cb(None, "ringing", 1, 0.0), NotFound(), 100.0, P)
    assert t.gone and not t.pending
    # a later callback does not put it back in the queue
    assert not cb(t, "in-progress", 2, 200.0).pending


def test_a_429_waits_retry_after_and_is_not_an_attempt() -> None:
    t = cb(None, "ringing", 1, 0.0)
    t = on_answer(t, Limited(7.0), 100.0, P)
    assert (t.attempts, t.next_ask_at) == (0, 107.0)
    assert on_answer(t, Limited(None), 100.0, P).next_ask_at == 105.0
    assert on_answer(t, Limited(float("nan")), 100.0, P).next_ask_at == 105.0
    assert on_answer(t, Limited(1e9), 100.0, P).next_ask_at == 400.0


def test_a_failed_request_counts_as_an_attempt() -> None:
    t = on_answer(cb(None, "ringing", 1, 0.0), Failed("timeout"), 100.0, P)
    assert (t.attempts, t.next_ask_at) == (1, 200.0)


def test_our_own_snapshot_coming_back_keeps_the_schedule() -> None:
    t = on_answer(cb(None, "ringing", 1, 0.0), Found("in-progress"), 100.0, P)
    back = on_event(t, Seen(SID, ACC, "in-progress", -2, 101.0, snapshot=True), P)
    assert back.next_ask_at == t.next_ask_at and back.attempts == 1
    assert back.status == "ringing"  # a snapshot never beats a callback


def test_the_pace_spaces_requests_and_honours_a_hold() -> None:
    pace = Pace(rate=4.0)
    assert pace.wait(10.0) == 0.0
    pace.sent(10.0)
    assert abs(pace.wait(10.1) - 0.15) < 1e-9
    pace.hold(10.1, 3.0)
    assert abs(pace.wait(10.1) - 3.0) < 1e-9


def test_a_call_first_seen_through_a_snapshot_is_scheduled() -> None:
    # a state file reset: the log is read again, the snapshot before the dialer's outcome
    t = on_event(None, Seen(SID, ACC, "ringing", -3, 50.0, snapshot=True), P)
    assert t.next_ask_at == 150.0
    assert on_created(t, SID, ACC, 60.0, P).next_ask_at == 150.0


statuses = st.sampled_from(["queued", "initiated", "ringing", "in-progress", "completed", "busy"])


@given(st.lists(st.tuples(statuses, st.integers(-5, 6), st.booleans()), min_size=1))
def test_the_tracked_status_follows_the_projector_rule(events: list[tuple[str, int, bool]]) -> None:
    t: Track | None = None
    for status, seq, snap in events:
        t = on_event(t, Seen(SID, ACC, status, seq, 0.0, snapshot=snap), P)
    assert t is not None
    terminals = [s for s, _, _ in events if s in ("completed", "busy")]
    if terminals:
        assert t.status == terminals[0] and not t.pending
    else:
        top = max(seq for _, seq, _ in events)
        assert t.status == next(s for s, q, _ in events if q == top)
