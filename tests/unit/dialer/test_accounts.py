"""Several accounts in one dialer, with in-memory fakes: each account paced at its own
cps, and one account's backlog, retries or unknown account never holding back another's
requests, even when they share a partition."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from callstream import topics
from callstream.accounts import Account
from callstream.dialrequest import DialRequest, from_input
from callstream.settings import Settings
from callstream.subaccounts import AccountBook
from dialer import partitions
from dialer.bootstrap import build
from dialer.loop import Dialer
from dialer.retry import Backoff, Failure
from tests.unit.dialer.fakes import FakeCalls, FakeClients, Log, running_dialer, wait_for

A = Account("AC" + "a" * 32, "a-token", cps=4.0, source="file")
B = Account("AC" + "b" * 32, "b-token", cps=20.0, source="file")
SUB = "AC" + "5" * 32
SETTINGS = Settings(public_url="https://hooks.example.com", cps=10.0)


def request(acct: str, i: int) -> DialRequest:
    body = {"to": f"+1415555{i:04d}", "from": "+14155550000", "id": f"{acct[-4:]}-{i}"}
    return from_input({**body, "twiml": "<Response/>"}, acct)


def enqueue(log: Log, reqs: list[DialRequest]) -> None:
    for r in reqs:  # one partition: the accounts share it
        log.append(topics.DIALER_REQUESTS, r.to_json(), r.account_sid.encode())


def outcomes(log: Log) -> list[dict[str, Any]]:
    return [json.loads(r.value or b"") for r in log.records(topics.DIALER_OUTCOMES)]


@contextmanager
def running(
    log: Log, calls: FakeCalls, book: AccountBook, backoff: Backoff | None = None
) -> Iterator[Dialer]:
    d = build(
        SETTINGS,
        calls=calls,
        clients=FakeClients(log),
        book=book,
        backoff=backoff or Backoff(base_s=0.01, cap_s=0.02, max_attempts=3),
    )
    with running_dialer(d):
        yield d


def starts(calls: FakeCalls, acct: str) -> list[float]:
    return [t for t, a, _ in calls.by_account if a == acct]


def test_each_account_at_its_own_cps_and_not_queued_behind_another() -> None:
    log, calls = Log(), FakeCalls()
    # A's whole backlog is ahead of B's in the partition
    enqueue(log, [request(A.sid, i) for i in range(6)] + [request(B.sid, i) for i in range(6)])
    with running(log, calls, AccountBook([A, B])):
        wait_for(lambda: len(outcomes(log)) == 12, what="twelve outcomes")
    for acct in (A, B):
        gaps = [b - a for a, b in itertools.pairwise(starts(calls, acct.sid))]
        assert len(gaps) == 5 and min(gaps) >= 1 / acct.cps  # type: ignore[operator]
    # B (20/s) is done while A (4/s) is still on its backlog
    assert max(starts(calls, B.sid)) < starts(calls, A.sid)[2]
    assert {o["result"] for o in outcomes(log)} == {"created"}
    # committed only once every request up to the end was finished
    assert log.committed[(topics.DIALER_REQUESTS, 0)] == 12


def test_one_accounts_429s_do_not_delay_another() -> None:
    log, calls = Log(), FakeCalls()
    slow = request(A.sid, 0)
    calls.plan[slow.to] = [Failure(429, 20429, "busy"), Failure(429, 20429, "busy")]
    enqueue(log, [slow, *(request(B.sid, 100 + i) for i in range(4))])
    with running(log, calls, AccountBook([A, B]), Backoff(base_s=2.0, cap_s=2.0)):
        wait_for(lambda: len(outcomes(log)) == 5, timeout=30, what="five outcomes")
        committed = log.committed.get((topics.DIALER_REQUESTS, 0))
    tries = starts(calls, A.sid)
    assert len(tries) == 3
    assert max(starts(calls, B.sid)) < tries[1]  # all of B while A backed off
    assert committed == 5


def test_commit_stays_below_an_unfinished_request_of_another_account() -> None:
    log, calls = Log(), FakeCalls()
    slow = request(A.sid, 0)
    calls.plan[slow.to] = [Failure(429, 20429, "busy")]
    enqueue(log, [slow, request(B.sid, 1)])
    with running(log, calls, AccountBook([A, B]), Backoff(base_s=3.0, cap_s=3.0)) as d:
        wait_for(lambda: len(outcomes(log)) == 1, what="B's outcome")
        assert log.committed.get((topics.DIALER_REQUESTS, 0)) in (None, 0)
        d.stop()
    # a restart (or a rebalance) fetches both again: A is placed, B is not placed twice
    with running(log, calls, AccountBook([A, B])):
        wait_for(lambda: len(outcomes(log)) == 2, what="A's outcome")
        wait_for(lambda: log.committed.get((topics.DIALER_REQUESTS, 0)) == 2, what="commit")
    assert [a for _, a, _ in calls.by_account].count(B.sid) == 1


def test_a_full_lane_is_fetched_again_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partitions, "LANE_MAX", 3)
    fast_a = Account(A.sid, "a-token", cps=50.0, source="file")
    log, calls = Log(), FakeCalls()
    a_reqs = [request(A.sid, i) for i in range(10)]
    enqueue(log, [*a_reqs, request(B.sid, 99)])
    with running(log, calls, AccountBook([fast_a, B])):
        wait_for(lambda: len(outcomes(log)) == 11, what="eleven outcomes")
        wait_for(lambda: log.committed.get((topics.DIALER_REQUESTS, 0)) == 11, what="commit")
    placed = [rid for _, a, rid in calls.by_account if a == A.sid]
    assert placed == [r.id for r in a_reqs]  # each once, in order
    b_at = starts(calls, B.sid)[0]
    assert b_at < starts(calls, A.sid)[5]  # B did not wait for A's lane to drain


class SubLister:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, parent: Account) -> list[Account]:
        self.calls += 1
        return [Account(SUB, "sub-token")] if parent.sid == A.sid else []


def test_unknown_accounts_are_rejected_and_new_subaccounts_found() -> None:
    log, calls = Log(), FakeCalls()
    lister = SubLister()
    book = AccountBook([A, B], lister, refresh_every_s=0)
    bogus = [request("AC" + f"{i:032x}", i) for i in range(20)]
    enqueue(log, [request(SUB, 1), *bogus, request(B.sid, 2)])
    with running(log, calls, book):
        wait_for(lambda: len(outcomes(log)) == 22, what="all outcomes")
    by_acct = {o["account_sid"]: o for o in outcomes(log)}
    assert by_acct[SUB]["result"] == "created"  # found by the first lookup
    assert by_acct[B.sid]["result"] == "created"
    assert all(by_acct[r.account_sid]["result"] == "rejected" for r in bogus)
    assert lister.calls <= 2 * 2  # at most one listing per interval (two parents each)
    sub_start = starts(calls, SUB)
    assert len(sub_start) == 1 and len(starts(calls, B.sid)) == 1
