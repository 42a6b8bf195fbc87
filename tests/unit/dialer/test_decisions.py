"""The dialer's decision core (docs/dialer.md, "Errors and retries", "In doubt and
reconciliation"): what follows an answer, a lookup, an attempt number. Pure: no broker."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dialer import decisions as dc
from dialer.ledger import Entry
from dialer.matching import AMBIGUOUS, MATCHED, NOT_FOUND, UNAVAILABLE, Match
from dialer.retry import Backoff, Failure, Verdict, classify

BACKOFF = Backoff(max_attempts=8)
statuses = st.sampled_from([0, 400, 401, 404, 429, 500, 502, 503, 504, 200, 302])
codes = st.one_of(st.none(), st.sampled_from([20429, 21211, 21205, 20003, 20500, "timeout"]))
failures = st.builds(
    Failure, status=statuses, code=codes, message=st.text(max_size=20), sent=st.booleans()
)
attempts = st.integers(min_value=1, max_value=12)
sids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).map(lambda h: "CA" + h)
matches = st.one_of(
    st.just(Match(NOT_FOUND)),
    st.just(Match(UNAVAILABLE)),
    sids.map(lambda s: Match(MATCHED, s, (s,))),
    st.lists(sids, min_size=2, max_size=4, unique=True).map(
        lambda c: Match(AMBIGUOUS, None, tuple(c))
    ),
)


def test_a_201_with_a_sid_finishes_created() -> None:
    step = dc.after_answer("CA1", None, 1, BACKOFF)
    assert step == dc.Finish("created", "CA1", None)


def test_a_201_without_a_sid_is_in_doubt() -> None:
    step = dc.after_answer(None, None, 1, BACKOFF)
    assert isinstance(step, dc.Lookup) and step.failure is None
    assert step.why == "201 without a call sid"


@given(failures, attempts)
def test_every_failure_maps_to_one_step_by_its_verdict(f: Failure, attempt: int) -> None:
    step = dc.after_answer(None, f, attempt, BACKOFF)
    verdict = classify(f)
    if verdict is Verdict.REJECT:
        assert step == dc.Finish("rejected", None, f.as_error(), "rejected-by-twilio")
    elif verdict is Verdict.IN_DOUBT:
        assert step == dc.Lookup(f"no clear answer: {f.message}")
    elif verdict is Verdict.VERIFY_THEN_RETRY:
        assert step == dc.Lookup(f"HTTP {f.status} but the call may exist", f)
    elif attempt >= BACKOFF.max_attempts:
        assert step == dc.Finish("rejected", None, f.as_error(), "retries-exhausted")
    else:
        assert step == dc.Retry(f.as_error())


@given(failures, attempts)
def test_retry_or_give_up_gives_up_exactly_at_the_last_attempt(f: Failure, attempt: int) -> None:
    step = dc.retry_or_give_up(f, attempt, BACKOFF)
    if attempt >= 8:
        assert isinstance(step, dc.Finish) and step.dead_letter == "retries-exhausted"
        assert step.result == "rejected" and step.call_sid is None and step.error == f.as_error()
    else:
        assert step == dc.Retry(f.as_error())


@given(matches, st.text(max_size=20))
def test_an_in_doubt_request_is_never_sent_again_and_only_a_match_escapes_the_dead_letters(
    m: Match, why: str
) -> None:
    fin = dc.in_doubt(m, why)
    assert fin.result == "in-doubt" and fin.reconciliation == m.status
    assert fin.call_sid == (m.sid if m.status == MATCHED else None)
    assert fin.dead_letter == (None if m.status == MATCHED else f"in-doubt-{m.status}")
    assert fin.error is not None and fin.error["code"] == "in-doubt"
    assert fin.error["message"].startswith(why + "; ")
    assert "not sent again" in fin.error["message"]
    assert fin.extra() == {"reconciliation": m.status, "candidates": list(m.candidates)}


def test_in_doubt_messages_name_what_was_found() -> None:
    assert dc.in_doubt(Match(MATCHED, "CA9", ("CA9",)), "w").error == {
        "code": "in-doubt",
        "message": "w; found call CA9 with the same To and From; not sent again",
    }
    assert dc.in_doubt(Match(AMBIGUOUS, None, ("a", "b", "c")), "w").error == {
        "code": "in-doubt",
        "message": "w; 3 matching calls found; not sent again",
    }
    msg = "w; no matching call found; not sent again (submit a new id to retry)"
    assert dc.in_doubt(Match(NOT_FOUND), "w").error == {"code": "in-doubt", "message": msg}
    msg = "w; the call list could not be read; not sent again"
    assert dc.in_doubt(Match(UNAVAILABLE), "w").error == {"code": "in-doubt", "message": msg}


@given(matches, failures)
def test_after_a_5xx_only_a_call_not_found_means_retry(m: Match, f: Failure) -> None:
    fin = dc.after_lookup(m, "why", f)
    if m.status == NOT_FOUND:
        assert fin is None
    else:
        assert fin == dc.in_doubt(m, "why")
    assert dc.after_lookup(m, "why", None) == dc.in_doubt(m, "why")  # no 5xx: always final


def test_outcomes_of_requests_that_are_not_sent() -> None:
    f = dc.unknown_account("AC1")
    assert f.result == "rejected" and f.dead_letter == "unknown-account" and f.extra() == {}
    assert f.error == {
        "code": "unknown-account",
        "message": "AC1 is not an active account callstream serves",
    }
    assert dc.malformed_error("bad To") == {"code": "invalid-request", "message": "bad To"}
    assert dc.malformed_error(None) == {"code": "invalid-request", "message": "malformed"}


@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.floats(min_value=0, max_value=100, allow_nan=False),
    st.floats(min_value=0, max_value=100, allow_nan=False),
)
def test_decide_waits_for_a_recent_sending_then_reconciles(
    sent_at: float, after: float, in_doubt_after: float
) -> None:
    e = Entry("AC1", "r1", attempts=1, in_flight_attempt=1, sent_at=sent_at)
    now = sent_at + after
    action, until = dc.decide(e, now, in_doubt_after)
    if now < sent_at + in_doubt_after:
        assert (action, until) == (dc.Action.WAIT, sent_at + in_doubt_after)
    else:
        assert (action, until) == (dc.Action.RECONCILE, 0.0)


def test_decide_sends_new_and_retrying_requests_and_skips_finished_ones() -> None:
    assert dc.decide(None, 0.0, 20.0) == (dc.Action.SEND, 0.0)
    assert dc.decide(Entry("AC1", "r1", attempts=2), 0.0, 20.0) == (dc.Action.SEND, 0.0)
    done = Entry("AC1", "r1", attempts=1, result="created")
    assert dc.decide(done, 0.0, 20.0) == (dc.Action.SKIP, 0.0)
