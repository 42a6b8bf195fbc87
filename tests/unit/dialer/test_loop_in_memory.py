"""The dialer built by :func:`dialer.bootstrap.build` with in-memory fakes for every port:
the loop wires decisions, pacing, the fenced ledger and outcomes without a broker or a
network (the same behaviour runs against a real broker and the emulator in tests/dialer)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from callstream import topics
from callstream.dialrequest import DialRequest, from_input
from callstream.settings import Settings
from dialer.bootstrap import build
from dialer.loop import Dialer
from dialer.retry import Backoff, Failure
from tests.unit.dialer.fakes import FakeCalls, FakeClients, Log, running_dialer, wait_for

ACCOUNT = "AC" + "0" * 32
SETTINGS = Settings(
    twilio_account_sid=ACCOUNT,
    twilio_auth_token="token",
    public_url="https://hooks.example.com",
    cps=20.0,
)


def request(i: int, rid: str | None = None) -> DialRequest:
    body = {"to": f"+1415555{i:04d}", "from": "+14155550000", "id": rid or f"r{i}"}
    return from_input({**body, "twiml": "<Response/>"}, ACCOUNT)


def outcomes(log: Log) -> list[dict[str, Any]]:
    return [json.loads(r.value or b"") for r in log.records(topics.DIALER_OUTCOMES)]


@contextmanager
def running(log: Log, calls: FakeCalls) -> Iterator[Dialer]:
    d = build(
        SETTINGS,
        calls=calls,
        clients=FakeClients(log),
        backoff=Backoff(base_s=0.01, cap_s=0.02, max_attempts=3),
    )
    with running_dialer(d):
        yield d


def test_requests_are_placed_once_paced_and_committed() -> None:
    log, calls = Log(), FakeCalls()
    reqs = [request(i) for i in range(4)]
    for r in [*reqs, reqs[0]]:  # the last one is a duplicate id
        log.append(topics.DIALER_REQUESTS, r.to_json(), r.account_sid.encode())
    with running(log, calls) as d:
        wait_for(lambda: len(outcomes(log)) == 4, what="four outcomes")
        wait_for(lambda: log.committed, what="commit")
        wait_for(lambda: d.metrics.duplicates._value.get() == 1, what="duplicate seen")
    outs = outcomes(log)
    assert [o["id"] for o in outs] == [r.id for r in reqs]
    assert {o["result"] for o in outs} == {"created"}
    assert [to for _, to in calls.creates] == [r.to for r in reqs]
    starts = [t for t, _ in calls.creates]
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 1 / SETTINGS.cps
    ledger = [json.loads(r.value or b"") for r in log.records(topics.DIALER_LEDGER)]
    assert [x["type"] for x in ledger] == ["sending"] * 4
    assert log.committed[(topics.DIALER_REQUESTS, 0)] == 5


def test_retries_rejections_giving_up_and_in_doubt() -> None:
    log, calls = Log(), FakeCalls()
    retried, bad, gives_up, lost = request(1), request(2), request(3), request(4)
    calls.plan[retried.to] = [Failure(429, 20429, "busy"), Failure(503, 20503, "down")]
    calls.plan[bad.to] = [Failure(400, 21211, "invalid To")]
    calls.plan[gives_up.to] = [Failure(429, 20429, "busy")] * 3
    calls.plan[lost.to] = [Failure(0, "timeout", "read timed out")]  # may have left
    for r in (retried, bad, gives_up, lost):
        log.append(topics.DIALER_REQUESTS, r.to_json(), r.account_sid.encode())
    with running(log, calls):
        wait_for(lambda: len(outcomes(log)) == 4, what="four outcomes")
    by_id = {o["id"]: o for o in outcomes(log)}
    assert by_id[retried.id]["result"] == "created" and by_id[retried.id]["attempts"] == 3
    assert by_id[bad.id]["result"] == "rejected" and by_id[bad.id]["error"]["code"] == 21211
    assert by_id[gives_up.id]["result"] == "rejected" and by_id[gives_up.id]["attempts"] == 3
    dls = [json.loads(r.value or b"") for r in log.records(topics.DIALER_DEAD_LETTER)]
    kinds = {d["id"]: d["reason"]["kind"] for d in dls}
    assert by_id[lost.id]["result"] == "in-doubt" and by_id[lost.id]["call_sid"] is None
    assert by_id[lost.id]["reconciliation"] == "not-found"
    assert kinds == {
        bad.id: "rejected-by-twilio",
        gives_up.id: "retries-exhausted",
        lost.id: "in-doubt-not-found",
    }
    assert [to for _, to in calls.creates].count(lost.to) == 1  # never sent again
    ledger = [json.loads(r.value or b"") for r in log.records(topics.DIALER_LEDGER)]
    assert [x["type"] for x in ledger if x["id"] == retried.id] == [
        "sending",
        "retry",
        "sending",
        "retry",
        "sending",
    ]
