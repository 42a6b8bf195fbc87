"""Calls leave ``queued`` no faster than the account's CPS, measured in the emulator's own
log (``left_queue_at`` of ``GET /emulator/requests``); over-rate creates are accepted."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tests.emulator.conftest import TWIML, Emu
from tests.helpers import wait_until


def _burst(emu: Emu, n: int) -> list[float]:
    calls = [
        emu.client.calls.create(to=f"+1555000{i:04d}", from_="+15005550006", twiml=TWIML)
        for i in range(n)
    ]
    assert all(c.status == "queued" for c in calls)
    queue_times = [int(c.queue_time) for c in calls]
    assert queue_times[-1] > queue_times[0]  # the estimate grows down the queue

    def left() -> list[float] | None:
        entries = emu.requests()
        times = [e["left_queue_at"] for e in entries]
        return times if len(times) == n and all(t is not None for t in times) else None

    times = wait_until(left, timeout=n / emu.config.cps + 10, what="queue drained")
    assert [e["call_sid"] for e in emu.requests()] == [c.sid for c in calls]
    assert times is not None
    return times


def test_ten_calls_at_cps_10_leave_at_least_a_tenth_apart(
    make_emulator: Callable[..., Emu],
) -> None:
    emu = make_emulator(cps=10.0)
    times = _burst(emu, 10)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.1, gaps


@pytest.mark.slow
def test_three_calls_at_default_cps_leave_at_least_a_second_apart(
    make_emulator: Callable[..., Emu],
) -> None:
    emu = make_emulator(cps=1.0)
    times = _burst(emu, 3)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0, gaps


def test_queues_are_per_account(make_emulator: Callable[..., Emu]) -> None:
    from tests.emulator.conftest import twilio_client

    other_sid, other_token = "AC" + "e" * 32, "other-token"
    emu = make_emulator(cps=0.5, extra_accounts={other_sid: other_token})
    other = twilio_client(emu.url, other_sid, other_token)
    emu.client.calls.create(to="+15550000001", from_="+15005550006", twiml=TWIML)
    second = other.calls.create(to="+15550000002", from_="+15005550006", twiml=TWIML)
    assert second.queue_time == "0"  # not behind the first account's call
    assert [e["account_sid"] for e in emu.requests()] == [emu.config.account_sid, other_sid]
