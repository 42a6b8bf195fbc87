"""Properties of the ledger fold and the send decision (pure, no Kafka)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dialer import decisions as dc
from dialer import ledger as lg

ACCOUNTS = ["AC" + "1" * 32, "AC" + "2" * 32]
T0 = 1.8e9


@dataclass
class History:
    """One request's records in the order its owner(s) wrote them."""

    account: str
    rid: str
    records: list[tuple[str, dict[str, Any]]]  # (topic, value)
    phase: lg.Phase
    result: str | None
    last_sent: float | None


@st.composite
def histories(draw: st.DrawFn, rid: str) -> History:
    acct = draw(st.sampled_from(ACCOUNTS))
    recs: list[tuple[str, dict[str, Any]]] = []
    attempts = draw(st.integers(0, 4))
    phase, last, result = lg.Phase.NEW, None, None
    for n in range(1, attempts + 1):
        at = T0 + draw(st.floats(0, 1000))
        recs.append(
            (
                "ledger",
                lg.sending_record(rid, acct, to="+1", from_="+2", attempt=n, sent_at=at, owner="o"),
            )
        )
        last = at if last is None else max(last, at)
        end = draw(
            st.sampled_from(
                ["retry", "abandoned", "crash"]
                if n < attempts
                else ["retry", "abandoned", "crash", "outcome"]
            )
        )
        if end == "retry":
            recs.append(("ledger", lg.retry_record(rid, acct, n, {"code": 500}, "o")))
            phase = lg.Phase.RETRYING
        elif end == "abandoned":
            recs.append(("ledger", lg.abandoned_record(rid, acct, n, "o")))
            phase = lg.Phase.RETRYING
        elif end == "crash":
            phase = lg.Phase.IN_FLIGHT
            if n < attempts:  # a later owner found it in doubt... and retried? never:
                break  # an in-flight attempt is never followed by another sending
        else:
            result = draw(st.sampled_from(lg.RESULTS))
            out = lg.outcome_record(
                rid, acct, result=result, call_sid=None, sent_at=at, error=None, attempts=n
            )
            recs.append(("outcomes", out))
            phase = lg.Phase.DONE
    if phase is lg.Phase.IN_FLIGHT and draw(st.booleans()):
        # an in-doubt outcome written by a new owner after reconciliation
        result = "in-doubt"
        recs.append(
            (
                "outcomes",
                lg.outcome_record(
                    rid,
                    acct,
                    result=result,
                    call_sid=None,
                    sent_at=last,
                    error=None,
                    attempts=attempts,
                ),
            )
        )
        phase = lg.Phase.DONE
    return History(acct, rid, recs, phase, result, last)


@st.composite
def interleaved(draw: st.DrawFn) -> tuple[list[History], list[tuple[str, dict[str, Any]]]]:
    n = draw(st.integers(1, 6))
    hs = [draw(histories(f"id{i}")) for i in range(n)]
    queues = [list(h.records) for h in hs]
    merged: list[tuple[str, dict[str, Any]]] = []
    while any(queues):
        i = draw(st.sampled_from([k for k, q in enumerate(queues) if q]))
        merged.append(queues[i].pop(0))
    return hs, merged


def fold(records: list[tuple[str, Any]]) -> lg.LedgerState:
    s = lg.LedgerState()
    for topic, obj in records:
        if topic == "ledger":
            s.apply_ledger(obj)
        else:
            s.apply_outcome(obj)
    return s


def summary(s: lg.LedgerState) -> Any:
    return (
        {k: (e.phase, e.result, e.attempts, e.sent_at) for k, e in s.entries.items()},
        s.last_sent,
    )


@given(interleaved())
def test_each_request_gets_the_phase_of_its_own_history(data: Any) -> None:
    hs, merged = data
    s = fold(merged)
    for h in hs:
        e = s.get(h.account, h.rid)
        if not h.records:
            assert e is None
            continue
        assert e is not None
        assert e.phase is h.phase
        assert e.result == h.result


@given(interleaved())
def test_last_sent_is_the_latest_send_of_each_account(data: Any) -> None:
    hs, merged = data
    s = fold(merged)
    for acct in ACCOUNTS:
        sends = [h.last_sent for h in hs if h.account == acct and h.last_sent is not None]
        if sends:
            assert abs(s.last_sent[acct] - max(sends)) < 1e-3
        else:
            assert acct not in s.last_sent


@given(interleaved(), st.data())
def test_fold_ignores_duplicated_records(data: Any, more: st.DataObject) -> None:
    _, merged = data
    if not merged:
        return
    i = more.draw(st.integers(0, len(merged) - 1))
    j = more.draw(st.integers(i + 1, len(merged)))
    dup = [*merged[:j], merged[i], *merged[j:]]
    assert summary(fold(dup)) == summary(fold(merged))


@given(interleaved(), st.sampled_from(lg.RESULTS), st.sampled_from(lg.RESULTS))
def test_the_first_outcome_counts_and_nothing_reopens_it(data: Any, r1: str, r2: str) -> None:
    hs, merged = data
    h = hs[0]
    out = lg.outcome_record(
        h.rid, h.account, result=r1, call_sid="CA1", sent_at=T0, error=None, attempts=1
    )
    later = lg.sending_record(
        h.rid, h.account, to="+1", from_="+2", attempt=9, sent_at=T0, owner="zombie"
    )
    out2 = {**out, "result": r2, "call_sid": "CA2"}
    s = fold([("outcomes", out), *merged, ("ledger", later), ("outcomes", out2)])
    e = s.get(h.account, h.rid)
    assert e is not None and e.phase is lg.Phase.DONE
    assert (e.result, e.call_sid) == (r1, "CA1")
    assert dc.decide(e, T0 + 5000, 20)[0] is dc.Action.SKIP


@given(interleaved(), st.floats(0, 5000))
def test_decide_never_sends_a_request_with_an_unresolved_or_final_record(
    data: Any, later: float
) -> None:
    hs, merged = data
    s = fold(merged)
    for h in hs:
        action, until = dc.decide(s.get(h.account, h.rid), T0 + later, 20.0)
        if h.phase in (lg.Phase.NEW, lg.Phase.RETRYING):
            assert action is dc.Action.SEND
        elif h.phase is lg.Phase.DONE:
            assert action is dc.Action.SKIP
        else:
            assert action in (dc.Action.WAIT, dc.Action.RECONCILE)
            if action is dc.Action.WAIT:
                assert until > T0 + later


def test_junk_is_ignored() -> None:
    s = lg.LedgerState()
    for junk in (
        None,
        3,
        "x",
        {"v": 2, "id": "a", "account_sid": "AC"},
        {"v": 1},
        {"v": 1, "id": "a", "account_sid": "b", "type": "sending", "attempt": 0},
        {"v": 1, "id": "a", "account_sid": "b", "type": "nope", "attempt": 1},
    ):
        s.apply_ledger(junk)
        s.apply_outcome(junk)
    assert s.entries == {} and s.ignored == 14
    assert lg.decode(b"\xff") is None and lg.decode(None) is None
