"""Builders shared by the projector tests: callbacks, a synthetic log, producing it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from callstream import kafka_clients, topics
from callstream.envelope import encode
from callstream.settings import Settings
from tests.helpers import ACCOUNT_SID

STAGES = ("initiated", "ringing", "in-progress")
TERMINALS = ("completed", "busy", "no-answer", "failed", "canceled")


def sid(i: int) -> str:
    return f"CA{i:032x}"


def rfc2822(sec: int) -> str:
    from email.utils import formatdate

    return formatdate(1_790_000_000 + sec, usegmt=False).replace("-0000", "+0000")


def callback(
    call_sid: str,
    seq: int,
    status: str,
    sec: int = 0,
    *,
    account_sid: str = ACCOUNT_SID,
    **extra: str,
) -> bytes:
    params = [
        ["AccountSid", account_sid],
        ["CallSid", call_sid],
        ["CallStatus", status],
        ["SequenceNumber", str(seq)],
        ["Timestamp", rfc2822(sec)],
        ["CallbackSource", "call-progress-events"],
        ["From", "+14155550100"],
        ["To", "+14155550199"],
        ["Direction", extra.pop("Direction", "outbound-api")],
    ]
    params += [[k, v] for k, v in extra.items()]
    return encode(
        f"2026-11-25T12:00:{sec % 60:02d}.000000Z",
        "POST",
        "https://hooks.example.com/twilio/status",
        params,
        None,
    )


def call_log(
    n_calls: int, seed: int = 7, dup_rate: float = 0.1, bad: int = 3, start: int = 0
) -> list[tuple[str, bytes]]:
    """(key, value) pairs: every call's lifecycle, shuffled a little, with duplicates and
    a few records the projector must reject."""
    rnd = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    for i in range(start, start + n_calls):
        cs = sid(i)
        end = rnd.choice(TERMINALS)
        steps = ["initiated", "ringing"] + (["in-progress"] if end == "completed" else [])
        evs = [callback(cs, k, st, i + k) for k, st in enumerate(steps)]
        extra = {"CallDuration": str(rnd.randint(0, 90)), "SipResponseCode": "200"}
        if end == "completed":
            extra["Duration"] = "1"
        evs.append(callback(cs, len(steps), end, i + len(steps), **extra))
        if rnd.random() < 0.5:
            rnd.shuffle(evs)
        if rnd.random() < dup_rate:
            evs.append(rnd.choice(evs))
        out += [(cs, v) for v in evs]
    for j in range(bad):
        out.append(
            (
                sid(10**9 + j),
                encode(
                    "2026-11-25T12:00:00Z",
                    "POST",
                    "u",
                    [["CallSid", sid(10**9 + j)], ["SequenceNumber", "x"]],
                    None,
                ),
            )
        )
    out.append(("junk", b"{not json"))
    return out


def produce(settings: Settings, pairs: list[tuple[str, bytes]]) -> None:
    p = kafka_clients.make_producer(settings, "test-projector-producer")
    try:
        t = settings.topic(topics.CALL_STATUS)
        for key, value in pairs:
            p.send(t, key=key.encode(), value=value)
        p.flush(timeout=30)
    finally:
        p.close(timeout=5)


def tables(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    from projector.store import dump

    return {
        t: dump(conn, t) for t in ("calls", "call_events", "rejected_events", "projector_offsets")
    }


def stored(path: Path, records: list[bytes], topic: str = "t.twilio.call-status") -> Path:
    """A projector database at ``path`` holding ``records`` (partition 0, offsets 0...)."""
    from projector.store import Store

    st = Store(path, topic)
    st.apply([(0, i, r) for i, r in enumerate(records)])
    st.close()
    return path


@contextmanager
def api_client(db: Path) -> Iterator[httpx.Client]:
    """The projector's HTTP API on ``db``, served on loopback without a bearer token."""
    from callstream.web import BearerGuard
    from projector.api import create_app
    from tests.helpers import ServedApp

    app = create_app(db, BearerGuard(None, "127.0.0.1"))
    with ServedApp(app) as served, httpx.Client(base_url=served.url, timeout=10) as c:
        yield c


def listed(body: dict[str, object]) -> list[str]:
    """The CallSids of a ``GET /calls`` answer, in order."""
    calls = body["calls"]
    assert isinstance(calls, list)
    return [c["call_sid"] for c in calls]
