"""``callstream reconciler`` as a process: its health routes, and a ``kill -9`` in the middle
that loses neither what it settled (not asked again) nor what it was waiting for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from callstream.broker import free_port
from callstream.settings import Settings
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until
from tests.reconciler.conftest import report_created, settled
from tests.reconciler.front import Front, place_call, rest_status

TERMINAL = ("completed", "busy", "failed", "no-answer", "canceled")


@contextmanager
def reconciler_process(
    settings: Settings, front: Front, state: Path, after: float
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "TWILIO_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers or "",
        CALLSTREAM_KAFKA_PROFILE=settings.kafka_profile or "",
        CALLSTREAM_TOPIC_PREFIX=settings.topic_prefix,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_URL=front.url,
        CALLSTREAM_RECONCILE_AFTER=str(after),
    )
    argv = [sys.executable, "-m", "callstream", "reconciler", "--port", str(port)]
    argv += ["--state", str(state), "--rate", "50"]
    log = open(state.with_suffix(f".{port}.log"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, state.with_suffix(f".{port}.log").read_text()
            try:
                return httpx.get(url + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, what="reconciler ready")
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()


def pending(url: str) -> int:
    return int(httpx.get(url + "/readyz", timeout=5).json()["calls"]["pending"])


def test_a_kill_9_keeps_what_was_settled_and_what_was_pending(
    settings: Settings, front: Front, tmp_path: Path
) -> None:
    state = tmp_path / "reconciler.db"
    early = place_call(front)
    wait_until(lambda: rest_status(front, early) in TERMINAL, timeout=60, what="call end")
    report_created(settings, early)
    after = 4.0
    with reconciler_process(settings, front, state, after) as (proc, url):
        wait_until(settled(settings, [early]), timeout=60, what="terminal snapshot")
        asked_early = front.count(early)
        metrics = httpx.get(url + "/metrics", timeout=5).text
        assert 'callstream_reconciler_requests_total{result="terminal"} 1.0' in metrics
        late = place_call(front)
        report_created(settings, late)
        wait_until(lambda: pending(url) == 1, timeout=30, what="the late call read")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert front.count(late) == 0  # it was not due yet: only the state file remembers it
    with reconciler_process(settings, front, state, after) as (proc, url):
        wait_until(settled(settings, [late]), timeout=60, what="the pending call settled")
        assert front.count(early) == asked_early  # not asked again
        assert pending(url) == 0
    # and the process stopped cleanly on SIGTERM
    assert proc.returncode == 0
