"""Chaos switches for callback delivery, and Twilio's default retry rules."""

from __future__ import annotations

from collections.abc import Callable

from emulator import Chaos
from emulator.chaos import plan_delivery
from tests.emulator.conftest import TWIML, Emu
from tests.emulator.receiver import Receiver
from tests.helpers import wait_until

ALL = ["initiated", "ringing", "answered", "completed"]


def _call(emu: Emu, url: str, events: list[str] | None = None) -> str:
    call = emu.client.calls.create(
        to="+15558675310",
        from_="+15005550006",
        twiml=TWIML,
        status_callback=url,
        status_callback_event=events or ALL,
    )
    sid: str = call.sid
    return sid


def _settled(emu: Emu, sid: str, n: int) -> list[dict[str, object]]:
    def done() -> list[dict[str, object]] | None:
        log = emu.callbacks(sid)
        return log if len(log) == n and all(e["outcome"] != "pending" for e in log) else None

    result = wait_until(done, what="deliveries settled")
    assert result is not None
    return result


def test_duplicate_delivers_identical_signed_copies(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(chaos=Chaos(duplicate=1.0), seed=7)
    sid = _call(emu, receiver.url("/cb/dup"), ["completed"])
    _settled(emu, sid, 1)
    a, b = receiver.for_call(sid)
    assert a.params == b.params and a.valid and b.valid
    assert a.headers["i-twilio-idempotency-token"] == b.headers["i-twilio-idempotency-token"]


def test_drop_leaves_a_sequence_gap(make_emulator: Callable[..., Emu], receiver: Receiver) -> None:
    emu = make_emulator(chaos=Chaos(drop=0.5), seed=3)
    sids = [_call(emu, receiver.url("/cb/drop")) for _ in range(3)]
    outcomes = []
    for sid in sids:
        log = _settled(emu, sid, 4)
        delivered = {e["sequence_number"] for e in log if e["outcome"] == "delivered"}
        got = {int(h.p["SequenceNumber"]) for h in receiver.for_call(sid)}
        assert got == delivered
        outcomes += [e["outcome"] for e in log]
    assert "dropped" in outcomes and "delivered" in outcomes


def test_reorder_still_delivers_everything(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(chaos=Chaos(reorder=0.3), seed=11)
    sid = _call(emu, receiver.url("/cb/re"))
    _settled(emu, sid, 4)
    assert sorted(int(h.p["SequenceNumber"]) for h in receiver.for_call(sid)) == [0, 1, 2, 3]
    assert all(h.valid for h in receiver.for_call(sid))


def test_reorder_delays_are_seeded_and_can_invert_order() -> None:
    chaos = Chaos(reorder=1.0)
    a = [plan_delivery(chaos, 5, "CA1", n).delays for n in range(4)]
    b = [plan_delivery(chaos, 5, "CA1", n).delays for n in range(4)]
    assert a == b
    firsts = [d[0] for d in a]
    assert firsts != sorted(firsts)  # with this seed, a later callback overtakes an earlier


def test_connect_fail_retries_once_by_default(
    make_emulator: Callable[..., Emu], receiver: Receiver
) -> None:
    emu = make_emulator(chaos=Chaos(connect_fail=1.0))
    sid = _call(emu, receiver.url("/cb/cf"), ["completed"])
    [entry] = _settled(emu, sid, 1)
    assert entry["results"] == ["connect-failed"] and entry["attempts"] == [2]
    assert receiver.for_call(sid) == []


def test_unreachable_receiver_retries_once(emu: Emu) -> None:
    sid = _call(emu, "http://127.0.0.1:9/cb", ["completed"])
    [entry] = _settled(emu, sid, 1)
    assert entry["results"] == ["connect-failed"] and entry["attempts"] == [2]


def test_non_2xx_is_not_retried(emu: Emu, receiver: Receiver) -> None:
    receiver.status["/cb/500"] = 500
    sid = _call(emu, receiver.url("/cb/500"), ["completed"])
    [entry] = _settled(emu, sid, 1)
    assert entry["results"] == ["http-500"] and entry["attempts"] == [1]
    assert len(receiver.for_call(sid)) == 1


def test_override_fragment_retries_5xx(emu: Emu, receiver: Receiver) -> None:
    receiver.status["/cb/5xx"] = 503
    sid = _call(emu, receiver.url("/cb/5xx#rc=2&rp=5xx"), ["completed"])
    [entry] = _settled(emu, sid, 1)
    assert entry["attempts"] == [3]
    assert len(receiver.for_call(sid)) == 3


def test_latency_slows_but_delivers(make_emulator: Callable[..., Emu], receiver: Receiver) -> None:
    emu = make_emulator(chaos=Chaos(latency=0.05))
    sid = _call(emu, receiver.url("/cb/slow"), ["completed"])
    assert _settled(emu, sid, 1)[0]["outcome"] == "delivered"


def test_without_chaos_a_leg_is_delivered_in_order(emu: Emu, receiver: Receiver) -> None:
    sid = _call(emu, receiver.url("/cb/order"))
    _settled(emu, sid, 4)
    assert [h.p["SequenceNumber"] for h in receiver.for_call(sid)] == ["0", "1", "2", "3"]
