"""The reconciler in-process on the session broker, against the emulator's front."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from callstream import envelope, kafka_clients
from callstream.settings import Settings
from callstream.topics import CALL_STATUS, DIALER_OUTCOMES
from reconciler.bootstrap import ServiceOptions, build
from reconciler.loop import Reconciler
from tests.helpers import ACCOUNT_SID, read_topic, wait_until
from tests.reconciler.front import Front, emulator_front


@pytest.fixture
def front() -> Iterator[Front]:
    with emulator_front() as f:
        yield f


@contextmanager
def running(
    settings: Settings, front: Front, state: Path, after: float = 0.5, **opts: Any
) -> Iterator[Reconciler]:
    """A reconciler on ``settings`` asking ``front``, its loop in a thread, until ready."""
    settings = replace(settings, twilio_api_url=front.url, reconcile_after=after)
    options = ServiceOptions(host="127.0.0.1", port=0, state=state, rate=50.0, **opts)
    profile = kafka_clients.detect_profile(settings)
    rec = build(settings, options, profile=profile)
    t = threading.Thread(target=rec.run, daemon=True)
    t.start()
    try:
        assert rec.ready.wait(30), rec.failed
        yield rec
    finally:
        rec.stop()
        t.join(30)
        rec.state.close()


def report_created(settings: Settings, call_sid: str) -> None:
    """What the dialer writes on dialer.outcomes when it created a call."""
    from dialer.ledger import outcome_record

    value = outcome_record(
        f"req-{call_sid[-6:]}",
        ACCOUNT_SID,
        result="created",
        call_sid=call_sid,
        sent_at=None,
        error=None,
        attempts=1,
    )
    producer = kafka_clients.make_producer(settings, "test-dialer")
    try:
        kafka_clients.produce_and_wait(
            producer,
            settings.topic(DIALER_OUTCOMES),
            json.dumps(value).encode(),
            ACCOUNT_SID.encode(),
            timeout_s=15,
        )
    finally:
        producer.close()


def snapshots(settings: Settings) -> dict[str, list[str]]:
    """CallSid -> the statuses of the reconciler's snapshots on twilio.call-status."""
    out: dict[str, list[str]] = {}
    for r in read_topic(settings, settings.topic(CALL_STATUS), idle=0.3):
        env = envelope.decode(r.value)
        if env.get("CallbackSource") == "callstream-reconciler":
            out.setdefault(env.call_sid or "", []).append(env.get("CallStatus") or "")
    return out


def settled(settings: Settings, sids: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        snaps = snapshots(settings)
        return all(
            any(
                s in ("completed", "busy", "failed", "no-answer", "canceled")
                for s in snaps.get(sid, [])
            )
            for sid in sids
        )

    return check


__all__ = ["report_created", "running", "settled", "snapshots", "wait_until"]
