"""End to end on the embedded broker, with a Twilio REST endpoint on loopback."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from callstream import kafka_clients, topics
from callstream.settings import Settings
from dialer import ledger as lg
from emulator import FaultSettings
from tests.dialer.conftest import Emu, Sink
from tests.dialer.harness import (
    ThreadDialer,
    assert_gap_rule,
    dead_letters,
    dialed_ids,
    enqueue,
    make_requests,
    outcomes,
    with_twilio,
)
from tests.dialer.planned_twilio import PlannedEmulator
from tests.helpers import ACCOUNT_SID, wait_until


def test_burst_is_paced_and_each_request_dialed_once(
    settings: Settings, make_emulator: Callable[..., Emu], sink: Sink
) -> None:
    emu = make_emulator(cps=10)
    s = replace(with_twilio(settings, emu.url, cps=10), public_url=sink.url)
    reqs = make_requests(15)
    enqueue(s, reqs)
    with ThreadDialer(s, emu.url):
        outs = outcomes(s, expect=15)
    assert Counter(o["result"] for o in outs) == {"created": 15}
    assert {o["id"] for o in outs} == {r.id for r in reqs}
    received = emu.received()
    assert_gap_rule(received, 10)
    assert sorted(dialed_ids(received)) == sorted(r.to for r in reqs)
    params = received[0]["params"]
    assert dict(params)["StatusCallback"] == sink.url + "/twilio/status"
    assert [v for k, v in params if k == "StatusCallbackEvent"] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]
    assert dict(params)["StatusCallbackMethod"] == "POST"
    # every placed call's progress comes back to the status callback URL
    for o in outs:
        wait_until(
            lambda o=o: "completed" in sink.statuses(o["call_sid"]),
            what=f"callbacks of {o['call_sid']}",
        )
        assert sink.statuses(o["call_sid"])[0] == "initiated"


def test_default_rate_of_one_call_per_second(
    settings: Settings, make_emulator: Callable[..., Emu], sink: Sink
) -> None:
    emu = make_emulator(cps=1)
    s = replace(settings, twilio_api_url=emu.url, public_url=sink.url)
    assert s.cps == 1.0
    reqs = make_requests(4)
    enqueue(s, reqs)
    with ThreadDialer(s, emu.url):
        outs = outcomes(s, expect=4)
    assert {o["result"] for o in outs} == {"created"}
    g = assert_gap_rule(emu.received(), 1)
    assert len(g) == 3  # (how close to 1 s a backlog goes is measured by the benchmark)


def test_emulator_faults_are_retried_or_dead_lettered(
    settings: Settings, make_emulator: Callable[..., Emu], sink: Sink
) -> None:
    faults = FaultSettings(create_429=1, create_500=1, create_500_created=1, create_503=1)
    emu = make_emulator(cps=10, faults=faults)
    s = replace(with_twilio(settings, emu.url, cps=10), public_url=sink.url)
    first, second, third = make_requests(3)
    [bad] = make_requests(
        1, prefix="bad", to="+14155559999", url="https://bad_host.example.com/twiml"
    )
    enqueue(s, [first, second, bad, third])
    with ThreadDialer(s, emu.url):
        outs = {o["id"]: o for o in outcomes(s, expect=4)}
        [dl] = dead_letters(s, expect=1)
    created = {c["to"]: c["sid"] for c in emu.created()}
    # first: 429 (retried), 500 (looked up, not there, retried), 500 after creating it:
    # found by the lookup, reported in doubt with its sid, never sent a fourth time
    assert outs[first.id]["result"] == "in-doubt"
    assert outs[first.id]["reconciliation"] == "matched"
    assert outs[first.id]["call_sid"] == created[first.to]
    assert outs[first.id]["attempts"] == 3
    # second: 503, looked up, retried
    assert outs[second.id]["result"] == "created" and outs[second.id]["attempts"] == 2
    assert outs[third.id]["result"] == "created"
    assert outs[bad.id]["result"] == "rejected"
    assert outs[bad.id]["error"]["code"] == 21205
    assert dl["id"] == bad.id and dl["reason"]["code"] == 21205
    assert dl["url"] == bad.url and "not a valid URL" in dl["reason"]["message"]
    received = emu.received()
    assert_gap_rule(received, 10)
    tos = Counter(dict(r["params"])["To"] for r in received)
    assert tos == {first.to: 3, second.to: 2, bad.to: 1, third.to: 1}
    assert sorted(dialed_ids(received)) == sorted([first.to, second.to, third.to])


def test_retries_rejections_and_a_5xx_that_created_the_call(
    settings: Settings, fake: tuple[PlannedEmulator, str]
) -> None:
    f, url = fake
    s = with_twilio(settings, url, cps=10)
    ok, retried, bad, lied = make_requests(4)
    f.plan[retried.to] = [(429, 20429, False), (500, 20500, False), (503, 20503, False)]
    f.plan[bad.to] = [(400, 21211, False)]
    f.plan[lied.to] = [(500, 20500, True)]  # created, then answered 500
    enqueue(s, [ok, retried, bad, lied])
    with ThreadDialer(s, url):
        outs = {o["id"]: o for o in outcomes(s, expect=4)}
        dls = dead_letters(s, expect=1)
    assert outs[ok.id]["result"] == "created" and outs[ok.id]["error"] is None
    assert outs[retried.id]["result"] == "created"
    assert outs[retried.id]["attempts"] == 4
    assert outs[bad.id]["result"] == "rejected"
    assert outs[bad.id]["call_sid"] is None
    assert outs[bad.id]["error"]["code"] == 21211
    assert "21211" in outs[bad.id]["error"]["message"]
    assert outs[lied.id]["result"] == "in-doubt"
    assert outs[lied.id]["reconciliation"] == "matched"
    created = {c["to"]: c["sid"] for c in f.created()}
    assert outs[lied.id]["call_sid"] == created[lied.to]
    assert outs[ok.id]["call_sid"] == created[ok.to]
    assert outs[retried.id]["call_sid"] == created[retried.to]
    [dl] = dls
    assert dl["id"] == bad.id and dl["to"] == bad.to and dl["reason"]["code"] == 21211
    assert dl["reason"]["kind"] == "rejected-by-twilio"
    received = f.received()
    assert_gap_rule(received, 10)  # failed attempts are paced too
    tos = [dict(r["params"])["To"] for r in received]
    assert Counter(tos) == {ok.to: 1, retried.to: 4, bad.to: 1, lied.to: 1}
    assert sorted(dialed_ids(received)) == sorted([ok.to, retried.to, lied.to])


def test_malformed_records_and_duplicate_ids(
    settings: Settings, fake: tuple[PlannedEmulator, str]
) -> None:
    f, url = fake
    s = with_twilio(settings, url, cps=10)
    a, b = make_requests(2)
    bad_number = {**a.to_dict(), "id": "bad-number", "to": "0800"}
    enqueue(s, [a, b, a], raw=[b"not json", json.dumps(bad_number).encode(), b"\xff\xfe"])
    enqueue(s, [b])
    with ThreadDialer(s, url) as d:
        outs = outcomes(s, expect=3)
        dls = dead_letters(s, expect=3)
        wait_until(lambda: d.metrics.duplicates._value.get() == 2, what="duplicates seen")
    assert sorted(o["id"] for o in outs) == sorted([a.id, b.id, "bad-number"])
    by_id = {o["id"]: o for o in outs}
    assert by_id["bad-number"]["result"] == "rejected"
    assert by_id["bad-number"]["error"]["code"] == "invalid-request"
    assert {d["reason"]["kind"] for d in dls} == {"malformed"}
    assert dls[0]["raw"] == "not json"
    assert sorted(dialed_ids(f.received())) == sorted([a.to, b.to])


def test_sendings_left_by_another_owner(
    settings: Settings, fake: tuple[PlannedEmulator, str]
) -> None:
    """A crashed owner's `sending` becomes in-doubt (reconciled through GET /Calls), never
    a second dial; a recent one is waited for; its last send paces the new owner."""
    f, url = fake
    s = with_twilio(settings, url, cps=10)
    lost, found, slow, after = make_requests(4)
    now = time.time()
    found_sid = f.seed(found.to, found.from_)  # a call that exists before the takeover
    p = kafka_clients.make_producer(s, "test-old-owner", linger_ms=0)
    ledger_topic = s.topic(topics.DIALER_LEDGER)
    try:
        for req, at in ((lost, now - 100), (found, now - 100), (slow, now)):
            rec = lg.sending_record(
                req.id,
                req.account_sid,
                to=req.to,
                from_=req.from_,
                attempt=1,
                sent_at=at,
                owner="old-owner",
            )
            p.send(ledger_topic, lg.encode(rec), key=ACCOUNT_SID.encode()).get(timeout=10)
        enqueue(s, [lost, found, slow, after])
        with ThreadDialer(s, url, http_timeout_s=1.0, in_doubt_grace_s=3.0):
            # the old owner finishes its send while the new one waits for it
            out = lg.outcome_record(
                slow.id,
                ACCOUNT_SID,
                result="created",
                call_sid="CA" + "7" * 32,
                sent_at=now,
                error=None,
                attempts=1,
            )
            p.send(s.topic(topics.DIALER_OUTCOMES), lg.encode(out), key=ACCOUNT_SID.encode()).get(
                timeout=10
            )
            outs = outcomes(s, expect=4)
            dls = dead_letters(s, expect=1)
    finally:
        p.close(timeout=5)
    assert Counter(o["id"] for o in outcomes(s)) == {
        lost.id: 1,
        found.id: 1,
        slow.id: 1,
        after.id: 1,
    }
    by_id = {o["id"]: o for o in outs}
    assert by_id[lost.id]["result"] == "in-doubt"
    assert by_id[lost.id]["reconciliation"] == "not-found"
    assert by_id[lost.id]["call_sid"] is None
    assert by_id[found.id]["result"] == "in-doubt"
    assert by_id[found.id]["reconciliation"] == "matched"
    assert by_id[found.id]["call_sid"] == found_sid
    assert by_id[slow.id]["call_sid"] == "CA" + "7" * 32
    assert by_id[after.id]["result"] == "created"
    assert [d["id"] for d in dls] == [lost.id]
    assert dls[0]["reason"]["kind"] == "in-doubt-not-found"
    received = f.received()
    assert dialed_ids(received) == [after.to]  # none of the three was sent again
    assert received[0]["received_at"] >= now + 0.1  # paced after the old owner's send


def test_two_dialers_that_both_think_they_own_the_partition(
    settings: Settings, fake: tuple[PlannedEmulator, str]
) -> None:
    """A zombie that still believes it owns a partition (simulated by a second consumer
    group) competes with the real owner: the ledger fence keeps the gap rule and one dial
    per request."""
    f, url = fake
    s = with_twilio(settings, url, cps=10)
    reqs = make_requests(12)
    with (
        ThreadDialer(s, url, group_id=s.topic("owner"), owner="owner") as a,
        ThreadDialer(s, url, group_id=s.topic("zombie"), owner="zombie") as b,
    ):
        enqueue(s, reqs)  # both are ready: both fetch every request at the same time
        wait_until(
            lambda: len({o["id"] for o in outcomes(s)}) == 12,
            timeout=60,
            interval=0.5,
            what="all requests finished",
        )
        assert a.parts.keys() == b.parts.keys() == {0, 1, 2}  # both believe they own all
    outs = outcomes(s)
    assert Counter(o["id"] for o in outs) == dict.fromkeys((r.id for r in reqs), 1)
    assert {o["result"] for o in outs} == {"created"}
    received = f.received()
    assert_gap_rule(received, 10)
    assert sorted(dialed_ids(received)) == sorted(r.to for r in reqs)
    # a.metrics/b.metrics.ledger_conflicts count the races the fence settled
