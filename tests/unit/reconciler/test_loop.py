"""The reconciler loop with its ports faked: the records it reads, what it asks, what it
appends and records (reconciler/loop.py, wired by reconciler/bootstrap.py's ``build``)."""

from __future__ import annotations

import json
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from callstream import envelope
from callstream.accounts import Account, configured_accounts
from callstream.settings import Settings
from callstream.subaccounts import AccountBook
from reconciler.bootstrap import ServiceOptions, build, credentials
from reconciler.loop import Reconciler
from reconciler.policy import Failed, Found, Limited, NotFound
from reconciler.snapshot import RestCall
from reconciler.twilio_rest import Fetched

ACC = "AC" + "0123456789abcdef" * 2
SID = "CA" + "2" * 32
TP = namedtuple("TP", "topic partition")
Rec = namedtuple("Rec", "offset timestamp value")


class FakeApi:
    def __init__(self) -> None:
        self.answers: list[Fetched] = []
        self.asked: list[tuple[str, str]] = []

    def fetch(self, account_sid: str, call_sid: str) -> Fetched:
        self.asked.append((account_sid, call_sid))
        return self.answers.pop(0)


class FakeSend:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def get(self, timeout: float) -> Any:
        if self.fail:
            raise TimeoutError("no acknowledgement")
        return None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.fail = False

    def send(self, topic: str, value: bytes, key: bytes | None, partition: Any) -> FakeSend:
        if not self.fail:
            self.sent.append((topic, value, key))
        return FakeSend(self.fail)


class FakeClients:
    def __init__(self) -> None:
        self.prod = FakeProducer()

    def consumer(self, client_id: str) -> Any:
        raise AssertionError("not used")

    def producer(self, client_id: str) -> Any:
        return self.prod


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Reconciler, FakeApi, FakeProducer, Clock]:
    settings = Settings.from_env(
        env={}, twilio_account_sid=ACC, twilio_auth_token="t", reconcile_after=10
    )
    api, clients, clock = FakeApi(), FakeClients(), Clock()
    opts = ServiceOptions("127.0.0.1", 0, state=tmp_path / "r.db", rate=1000.0)
    rec = build(settings, opts, api=api, clients=clients, clock=clock)
    rec.producer = clients.prod
    return rec, api, clients.prod, clock


def created(offset: int, at_ms: int, sid: str = SID) -> tuple[TP, Rec]:
    value = {"v": 1, "id": "r1", "call_sid": sid, "result": "created", "account_sid": ACC}
    return TP("dialer.outcomes", 0), Rec(offset, at_ms, json.dumps(value).encode())


def callback(offset: int, at_ms: int, status: str, seq: int) -> tuple[TP, Rec]:
    params = [["CallSid", SID], ["AccountSid", ACC], ["CallStatus", status]]
    params += [["SequenceNumber", str(seq)], ["CallbackSource", "call-progress-events"]]
    value = envelope.encode("2026-11-25T12:00:00Z", "POST", "https://x", params, None)
    return TP("twilio.call-status", 3), Rec(offset, at_ms, value)


def feed(rec: Reconciler, *items: tuple[TP, Rec]) -> None:
    batch: dict[TP, list[Rec]] = {}
    for tp, r in items:
        batch.setdefault(tp, []).append(r)
    rec.apply(batch)


def found(status: str, **kw: Any) -> Fetched:
    call = RestCall(SID, ACC, status, direction="outbound-api", **kw)
    return Fetched(Found(status), call, concurrent=2)


def test_a_created_call_is_asked_after_the_window_and_settled(parts: Any) -> None:
    rec, api, prod, clock = parts
    feed(rec, created(0, 1_000_000))
    assert rec.state.offsets() == {("dialer.outcomes", 0): 1}
    clock.now = 1009.0
    rec.ask_due()
    assert api.asked == []
    clock.now = 1010.0
    api.answers.append(found("busy", end_time="Wed, 25 Nov 2026 12:00:00 +0000", duration="0"))
    rec.ask_due()
    assert api.asked == [(ACC, SID)]
    topic, value, key = prod.sent[0]
    assert (topic, key) == ("twilio.call-status", SID.encode())
    env = envelope.decode(value)
    assert (env.get("CallStatus"), env.get("SequenceNumber")) == ("busy", "-1")
    assert env.method == "GET" and env.url.endswith(f"/Calls/{SID}.json")
    assert rec.state.counts()["pending"] == 0
    assert rec.metrics.ask["terminal"]._value.get() == 1


def test_a_live_call_with_callbacks_gets_no_live_snapshot(parts: Any) -> None:
    rec, api, prod, clock = parts
    feed(rec, callback(5, 1_000_000, "ringing", 1))
    clock.now = 1010.0
    api.answers.append(found("in-progress"))
    rec.ask_due()
    assert prod.sent == []  # it would count for nothing against the ringing callback
    t = rec.state.get(SID)
    assert t is not None and t.attempts == 1 and t.next_ask_at == 1010.0 + 50.0


def test_a_call_with_no_callback_gets_live_snapshots_forward_only(parts: Any) -> None:
    rec, api, prod, clock = parts
    feed(rec, created(0, 1_000_000))
    clock.now = 1010.0
    api.answers.append(found("ringing"))
    rec.ask_due()
    assert len(prod.sent) == 1
    # the snapshot comes back through the log
    _, value, _ = prod.sent[0]
    feed(rec, (TP("twilio.call-status", 1), Rec(0, 1_010_000, value)))
    clock.now = 1020.0
    api.answers.append(found("ringing"))
    rec.ask_due()
    assert len(prod.sent) == 1  # the same stage again: nothing new to say


def test_kafka_down_records_nothing_and_asks_again(parts: Any) -> None:
    rec, api, prod, clock = parts
    feed(rec, created(0, 1_000_000))
    clock.now = 1010.0
    prod.fail = True
    api.answers.append(found("completed", duration="5"))
    rec.ask_due()
    t = rec.state.get(SID)
    assert t is not None and t.attempts == 0 and t.pending
    prod.fail = False
    clock.now = 1012.0
    api.answers.append(found("completed", duration="5"))
    rec.ask_due()
    assert len(prod.sent) == 1 and not rec.state.counts()["pending"]


def test_a_429_holds_every_call(parts: Any) -> None:
    rec, api, _prod, clock = parts
    feed(rec, created(0, 1_000_000), created(1, 1_000_000, "CA" + "8" * 32))
    clock.now = 1010.0
    api.answers.append(Fetched(Limited(30.0)))
    rec.ask_due()
    assert len(api.asked) == 1  # the other due call waits too
    assert rec.pace.wait(1010.0) == 30.0


def test_a_busy_account_slows_the_asking(parts: Any) -> None:
    rec, api, _prod, clock = parts
    feed(rec, created(0, 1_000_000))
    clock.now = 1010.0
    call = RestCall(SID, ACC, "ringing")
    api.answers.append(Fetched(Found("ringing"), call, concurrent=60))
    rec.ask_due()
    assert rec.pace.wait(1010.0) == 1.0  # Twilio-Concurrent-Requests at 60: a pause
    assert rec.metrics.concurrent._value.get() == 60


def test_a_404_and_a_failure(parts: Any) -> None:
    rec, api, _prod, clock = parts
    feed(rec, created(0, 1_000_000))
    clock.now = 1010.0
    api.answers.append(Fetched(Failed("timeout")))
    rec.ask_due()
    clock.now = 1020.0
    api.answers.append(Fetched(NotFound()))
    rec.ask_due()
    t = rec.state.get(SID)
    assert t is not None and t.gone and not t.pending
    assert rec.metrics.ask["failed"]._value.get() == 1
    assert rec.metrics.ask["not-found"]._value.get() == 1


def test_records_it_cannot_use_are_skipped_but_their_offsets_kept(parts: Any) -> None:
    rec, _api, _prod, _clock = parts
    feed(
        rec,
        (TP("twilio.call-status", 0), Rec(7, 0, b"not json")),
        (TP("dialer.outcomes", 2), Rec(3, 0, b'{"result": "rejected"}')),
    )
    assert rec.state.offsets() == {("twilio.call-status", 0): 8, ("dialer.outcomes", 2): 4}
    assert rec.state.counts()["pending"] == 0


def test_credentials_are_those_of_the_known_accounts() -> None:
    s = Settings.from_env(env={}, twilio_account_sid=ACC, twilio_auth_token="tok")
    sub = Account("AC" + "e" * 32, "subtok", parent_sid=ACC, source="discovered")
    look = credentials(AccountBook([*configured_accounts(s), sub]))
    assert look(ACC) == (ACC, "tok")
    assert look(sub.sid) == (sub.sid, "subtok")  # a subaccount: its own token, as listed
    assert look("AC" + "f" * 32) is None
