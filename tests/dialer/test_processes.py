"""``callstream dialer`` as real processes: kill -9 and restart, a second dialer joining and
the first leaving, SIGTERM; and ``callstream dial``."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from callstream import topics
from callstream.settings import Settings
from tests.dialer.conftest import Emu, Sink
from tests.dialer.harness import (
    CALLSTREAM,
    ROOT,
    DialerProcess,
    assert_gap_rule,
    dialed_ids,
    dialer_env,
    enqueue,
    make_requests,
    outcomes,
    with_twilio,
)
from tests.helpers import ACCOUNT_SID, read_topic, wait_until

pytestmark = pytest.mark.slow
CPS = 5


@pytest.fixture
def env(settings: Settings, make_emulator: Callable[..., Emu], sink: Sink) -> tuple[Emu, Settings]:
    """An emulator at CPS 5 and settings pointing the dialer at it."""
    emu = make_emulator(cps=CPS)
    return emu, replace(with_twilio(settings, emu.url, cps=CPS), public_url=sink.url)


def check_no_double_dial_and_one_outcome_each(
    f: Emu, outs: list[dict[str, object]], ids: list[str], tos: list[str]
) -> None:
    assert Counter(str(o["id"]) for o in outs) == dict.fromkeys(ids, 1)
    received = f.received()
    assert_gap_rule(received, CPS)
    placed = dialed_ids(received)
    assert len(placed) == len(set(placed)), "a request was placed twice"
    created = {c["to"]: c["sid"] for c in f.created()}
    for o, to in zip(sorted(outs, key=lambda o: ids.index(str(o["id"]))), tos, strict=True):
        if o["result"] == "created" or o.get("reconciliation") == "matched":
            assert o["call_sid"] == created[to]
        else:  # only a send cut short by the kill can be in doubt
            assert o["result"] == "in-doubt" and to not in created


def test_kill_9_and_restart(env: tuple[Emu, Settings], tmp_path: Path) -> None:
    f, s = env
    reqs = make_requests(20)
    enqueue(s, reqs)
    first = DialerProcess(s, tmp_path, "first")
    try:
        wait_until(lambda: len(f.received()) >= 6, timeout=30, what="first calls placed")
        first.kill()
        n_before = len(f.received())
        second = DialerProcess(s, tmp_path, "second")
        try:
            outcomes(s, expect=20, timeout=60)
            assert len(f.received()) > n_before
        finally:
            assert second.terminate() in (0, -15)
            second.close()
    finally:
        first.close()
    check_no_double_dial_and_one_outcome_each(
        f, outcomes(s), [r.id for r in reqs], [r.to for r in reqs]
    )


def test_second_dialer_joins_and_first_leaves(env: tuple[Emu, Settings], tmp_path: Path) -> None:
    f, s = env
    reqs = make_requests(25)
    enqueue(s, reqs)
    first = DialerProcess(s, tmp_path, "first")
    second: DialerProcess | None = None
    try:
        wait_until(lambda: len(f.received()) >= 4, timeout=30, what="first calls placed")
        second = DialerProcess(s, tmp_path, "second")
        second.wait_assigned()
        wait_until(lambda: len(f.received()) >= 10, timeout=30, what="more calls placed")
        assert first.terminate() in (0, -15)  # SIGTERM: clean stop, the group moves on
        outs = outcomes(s, expect=25, timeout=60)
        assert any(x.get("event") == "dialer stopped" for x in first.lines())
    finally:
        first.close()
        if second is not None:
            second.terminate()
            second.close()
    assert all(o["result"] == "created" for o in outs)  # a clean handover leaves no doubt
    check_no_double_dial_and_one_outcome_each(
        f, outcomes(s), [r.id for r in reqs], [r.to for r in reqs]
    )


def test_health_routes_of_a_running_dialer(env: tuple[Emu, Settings], tmp_path: Path) -> None:
    _, s = env
    proc = DialerProcess(s, tmp_path, "health")
    try:
        proc.wait_assigned()
        base = f"http://127.0.0.1:{proc.port}"
        wait_until(lambda: httpx.get(base + "/readyz").status_code == 200, what="ready")
        assert httpx.get(base + "/livez").json() == {"status": "ok"}
        enqueue(s, make_requests(2))
        outcomes(s, expect=2)
        metrics = wait_until(
            lambda: (
                (m := httpx.get(base + "/metrics").text)
                and "callstream_dialer_backlog 0.0" in m
                and m
            ),
            what="backlog back to 0",
        )
        assert 'callstream_dialer_outcomes_total{result="created"} 2.0' in metrics
        assert "callstream_dialer_send_gap_seconds_bucket" in metrics
        assert proc.terminate() in (0, -15)
    finally:
        proc.close()


def test_callstream_dial_enqueues_a_valid_request(settings: Settings) -> None:
    env = dialer_env(settings)
    cmd = [
        *CALLSTREAM,
        "dial",
        "--to",
        "+14155550123",
        "--from",
        "+14155550000",
        "--twiml",
        "<Response><Say>hi</Say></Response>",
        "--id",
        "cli-1",
    ]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cli-1"
    [rec] = read_topic(settings, settings.topic(topics.DIALER_REQUESTS), expect=1)
    assert rec.key == ACCOUNT_SID.encode()
    body = json.loads(rec.value)
    assert body["id"] == "cli-1" and body["twiml"].startswith("<Response>")
    assert body["status_callback_event"] == ["initiated", "ringing", "answered", "completed"]
    bad = subprocess.run(
        [*cmd[:-7], "0800", *cmd[-6:]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "E.164" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
