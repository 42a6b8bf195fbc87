"""The benchmarks' workload model (benchmarks/workload.py): pure, so unit-tested here."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from email.utils import parsedate_to_datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import table, workload
from benchmarks.workload import Shape, adjacent, callbacks, distinct_calls_per_poll, family
from emulator.timefmt import rfc2822 as emulator_rfc2822

CLEAN = Shape(duplicate=0.0, reorder=0.0, lose=0.0)


def by_call(cbs: list[workload.Callback]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for cb in cbs:
        out[cb.call_sid].append(dict(cb.params))
    return out


def test_delivery_order_and_overlap() -> None:
    cbs = list(callbacks(3000, Shape(rate=30.0)))
    assert [c.at for c in cbs] == sorted(c.at for c in cbs)
    # thousands of calls in flight at once: ~30 calls/s x ~100 s each
    assert workload.in_flight(cbs) > 1000
    sids = [c.call_sid for c in cbs]
    assert distinct_calls_per_poll(sids, 2000) > 2 * distinct_calls_per_poll(
        [c.call_sid for c in adjacent(cbs)], 2000
    )


def test_a_call_without_faults_follows_the_emulator_lifecycle() -> None:
    calls = by_call(list(callbacks(2000, CLEAN)))
    seen: Counter[tuple[str, ...]] = Counter()
    for evs in calls.values():
        statuses = tuple(e["CallStatus"] for e in evs)
        seen[statuses] += 1
        assert [e["SequenceNumber"] for e in evs] == [str(i) for i in range(len(evs))]
        times = [parsedate_to_datetime(e["Timestamp"]) for e in evs]
        assert times == sorted(times)
        assert len({e["CallSid"] for e in evs}) == 1
    assert set(seen) == {
        ("initiated", "ringing", "in-progress", "completed"),
        ("initiated", "ringing", "no-answer"),
        ("initiated", "busy"),
        ("initiated", "failed"),
    }


def test_parameters_are_the_emulators_set() -> None:
    cbs = list(callbacks(500, CLEAN))
    for cb in cbs:
        p = dict(cb.params)
        assert len(p) == len(cb.params)  # no name twice
        final = p["CallStatus"] not in ("initiated", "ringing", "in-progress")
        child = "ParentCallSid" in p
        assert len(p) == 12 + 3 * final + child
        assert p["Direction"] == ("outbound-dial" if child else "outbound-api")
        if final:
            assert (
                p["SipResponseCode"]
                == {
                    "completed": "200",
                    "busy": "486",
                    "no-answer": "487",
                    "failed": "404",
                }[p["CallStatus"]]
            )
    geo = dict(next(callbacks(1, Shape(geo=True))).params)
    assert geo["ToCountry"] == "US" and geo["CallerCity"] == "OAKLAND"


def test_outcome_shares_and_distributions() -> None:
    shape = Shape(busy=0.1, no_answer=0.2, failed=0.05, dial_share=0.5, rate=50.0)
    cbs = list(callbacks(8000, shape, seed=7))
    finals = [dict(c.params) for c in cbs if dict(c.params)["SequenceNumber"] != "0"]
    parents = [f for f in finals if "ParentCallSid" not in f]
    terminal = Counter(
        f["CallStatus"] for f in parents if f["CallStatus"] not in ("ringing", "in-progress")
    )
    n = sum(terminal.values())
    assert n > 7900  # lose: 0.1 %
    assert terminal["busy"] / n == pytest.approx(0.1, abs=0.02)
    assert terminal["failed"] / n == pytest.approx(0.05, abs=0.015)
    # no-answer: its share plus answered calls that rang past the 30 s timeout (rare)
    assert terminal["no-answer"] / n == pytest.approx(0.2, abs=0.025)
    talks = [int(f["CallDuration"]) for f in parents if f["CallStatus"] == "completed"]
    children = {f["CallSid"] for f in finals if "ParentCallSid" in f}
    assert len(children) / len(talks) == pytest.approx(0.5, abs=0.05)
    # talk ~ exponential(mean 90 s) for calls without a child leg; the parent of a child
    # leg lasts the child's ring and talk too, so the overall mean is above 90 s
    assert statistics.mean(talks) > 90
    # Poisson arrivals at 50/s: the initiated callbacks of 8,000 calls span ~160 s
    starts = [c.at for c in cbs if dict(c.params)["CallStatus"] == "initiated"]
    assert (max(starts) - min(starts)) == pytest.approx(8000 / 50, rel=0.1)


def test_ring_time_is_lognormal_around_the_median() -> None:
    import random

    rnd = random.Random(3)
    rings = [workload.legs(rnd, i, 0.0, Shape())[0].ring for i in range(5000)]
    assert statistics.median(rings) == pytest.approx(6.0, rel=0.05)


def test_faults_duplicate_reorder_lose() -> None:
    clean = list(callbacks(3000, CLEAN, seed=5))
    faulty = list(callbacks(3000, Shape(duplicate=0.1, reorder=0.1, lose=0.05), seed=5))
    keys = Counter((c.call_sid, dict(c.params)["SequenceNumber"]) for c in faulty)
    dup = sum(1 for v in keys.values() if v == 2)
    assert dup / len(keys) == pytest.approx(0.1, abs=0.02)
    assert (len(clean) - len(keys)) / len(clean) == pytest.approx(0.05, abs=0.015)


def out_of_order(cbs: list[workload.Callback]) -> int:
    """Legs with a callback delivered after a later one of the same leg."""
    n = 0
    for evs in by_call(cbs).values():
        seqs = [int(e["SequenceNumber"]) for e in evs]
        n += any(a > b for a, b in pairwise(seqs))
    return n


def test_reorder_holds_a_callback_back_past_the_next() -> None:
    assert out_of_order(list(callbacks(3000, CLEAN, seed=5))) == 0
    held = list(callbacks(3000, Shape(duplicate=0.0, reorder=0.1, lose=0.0), seed=5))
    legs = len(by_call(held))
    # one leg in ~3 has three or more callbacks to hold back: ~10 % per callback
    assert 0.15 * legs < out_of_order(held) < 0.4 * legs


def test_adjacent_keeps_the_same_callbacks_grouped_by_call() -> None:
    cbs = list(callbacks(1000, Shape(dial_share=0.5)))
    adj = adjacent(cbs)
    assert sorted(map(id, adj)) == sorted(map(id, cbs))
    fams = [family(c) for c in adj]
    # each call's callbacks form one run
    runs = [f for i, f in enumerate(fams) if i == 0 or fams[i - 1] != f]
    assert len(runs) == len(set(fams))
    assert any(c.call_sid != family(c) for c in adj)  # child legs are there, with a parent


@given(st.lists(st.sampled_from("abcdefg"), max_size=60), st.integers(1, 15))
@settings(max_examples=200)
def test_distinct_calls_per_poll(sids: list[str], poll: int) -> None:
    got = distinct_calls_per_poll(sids, poll)
    chunks = [sids[i : i + poll] for i in range(0, len(sids), poll)]
    assert got == (statistics.mean(len(set(c)) for c in chunks) if chunks else 0.0)
    assert 0 <= got <= min(poll, 7)


def test_distinct_calls_per_poll_refuses_an_empty_poll() -> None:
    with pytest.raises(ValueError, match="poll"):
        distinct_calls_per_poll(["a"], 0)


@pytest.mark.parametrize(
    "bad", [{"rate": 0}, {"busy": 1.5}, {"lose": -0.1}, {"busy": 0.5, "no_answer": 0.6}]
)
def test_shape_refuses_impossible_numbers(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Shape(**bad)  # type: ignore[arg-type]


@given(st.floats(0, 4_102_444_800))
def test_timestamp_is_twilios_rfc2822(t: float) -> None:
    assert workload.rfc2822(t) == emulator_rfc2822(t)


def test_same_seed_same_log() -> None:
    assert list(callbacks(200, seed=9)) == list(callbacks(200, seed=9))
    assert list(callbacks(200, seed=9)) != list(callbacks(200, seed=10))


# ------------------------------------------------------ replays at a rate, and the reports


def test_replay_keeps_order_and_spacing_at_the_asked_rate() -> None:
    cbs = list(callbacks(3000, Shape(rate=30.0)))
    timed = workload.replay(iter(cbs), skip_s=20.0, count=1000, seconds=10.0)
    assert len(timed) == 1000
    # the first 1,000 callbacks delivered 20 s or more after the first arrival, in order
    start = next(i for i, cb in enumerate(cbs) if cb.at >= workload.EPOCH + 20.0)
    assert [t.cb for t in timed] == cbs[start : start + 1000]
    assert timed[0].due == 0.0
    dues = [t.due for t in timed]
    assert dues == sorted(dues)
    # count callbacks over count gaps: the last is one average gap before the end
    assert timed[-1].due == pytest.approx(10.0 * 999 / 1000)
    # one clock, sped up: every gap scaled by the same factor
    up = workload.speedup(timed)
    for a, b in pairwise(timed):
        assert (b.cb.at - a.cb.at) == pytest.approx((b.due - a.due) * up, abs=1e-6)


def test_replay_reads_its_source_only_as_far_as_needed() -> None:
    timed = workload.replay(callbacks(10**9), skip_s=0.0, count=50, seconds=1.0)
    assert len(timed) == 50


def test_replay_of_too_short_a_log_and_bad_arguments() -> None:
    assert workload.replay(iter([]), 0.0, 10, 1.0) == []
    with pytest.raises(ValueError):
        workload.replay(iter([]), 0.0, 0, 1.0)
    with pytest.raises(ValueError):
        workload.replay(iter([]), 0.0, 1, 0.0)


def test_regrouped_sends_the_same_callbacks_at_the_same_times_call_by_call() -> None:
    timed = workload.replay(callbacks(10**9), skip_s=300.0, count=2000, seconds=10.0)
    again = workload.regrouped(timed)
    assert [t.due for t in again] == [t.due for t in timed]
    assert sorted(map(repr, (t.cb for t in again))) == sorted(map(repr, (t.cb for t in timed)))
    sids = [t.cb.call_sid for t in timed]
    grouped = [t.cb.call_sid for t in again]
    assert distinct_calls_per_poll(grouped, 500) < distinct_calls_per_poll(sids, 500)


def test_first_sends_keep_the_earliest_send_of_each_event() -> None:
    p = [["CallSid", "CA1"], ["SequenceNumber", "2"]]
    cb = workload.Callback(0.0, "CA1", p)
    timed = [workload.Timed(3.0, cb), workload.Timed(1.0, cb), workload.Timed(2.0, cb)]
    assert workload.first_sends(timed) == {("CA1", 2): 1.0}
    with pytest.raises(ValueError, match="SequenceNumber"):
        workload.sequence_of(workload.Callback(0.0, "CA2", [["CallSid", "CA2"]]))


def test_first_sends_of_the_model_count_each_event_once() -> None:
    timed = workload.replay(callbacks(10**9), skip_s=300.0, count=3000, seconds=10.0)
    firsts = workload.first_sends(timed)
    keys = [(t.cb.call_sid, workload.sequence_of(t.cb)) for t in timed]
    assert set(firsts) == set(keys)
    assert len(keys) - len(firsts) == sum(c - 1 for c in Counter(keys).values())


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200), st.floats(0, 100))
def test_pct_is_the_nearest_rank(xs: list[float], q: float) -> None:
    v = table.pct(xs, q)
    assert v in xs
    at_or_below = sum(x <= v for x in xs)
    assert at_or_below >= q / 100 * len(xs) - 1e-9
    # and no smaller value of the list would do
    assert all(sum(y <= x for y in xs) < q / 100 * len(xs) - 1e-9 for x in xs if x < v)


def test_pct_edges() -> None:
    assert table.pct([3.0, 1.0, 2.0], 100) == 3.0
    assert table.pct([3.0, 1.0, 2.0], 0) == 1.0
    assert table.pct([5.0] * 100 + [9.0], 99) == 5.0
    assert table.ms([0.0123, 0.0456], 100) == 45.6
    assert table.pct([], 50) != table.pct([], 50)  # NaN
    with pytest.raises(ValueError):
        table.pct([1.0], 101)


def test_markdown_table() -> None:
    assert table.markdown([["a", "b"], [1, "x|y"]]) == "| a | b |\n|---|---|\n| 1 | x\\|y |"
    assert table.markdown([]) == ""
    with pytest.raises(ValueError):
        table.markdown([["a", "b"], [1]])
