"""The reconciler against the emulator losing callbacks, on a real broker: calls with no
callback at all and calls stuck before their end converge to Twilio's truth; 429 storms
are waited out; a 404 is asked once; ``rebuild`` gives the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callstream import envelope, kafka_clients
from callstream.settings import Settings
from callstream.topics import CALL_STATUS
from projector.rebuild import rebuild
from tests.helpers import ACCOUNT_SID, wait_until
from tests.reconciler.conftest import report_created, running, settled, snapshots
from tests.reconciler.front import Front, Planned, place_call, rest_status

pytestmark = pytest.mark.slow
TERMINAL = ("completed", "busy", "failed", "no-answer", "canceled")


def rows(settings: Settings, path: Path) -> dict[str, dict[str, Any]]:
    import sqlite3

    profile = kafka_clients.detect_profile(settings)
    with open(path.with_suffix(".log"), "w") as progress:
        rebuild(settings, path, profile, out=progress)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {r["call_sid"]: dict(r) for r in conn.execute("SELECT * FROM calls")}
    finally:
        conn.close()


def ended(front: Front, sid: str) -> bool:
    return rest_status(front, sid) in TERMINAL


def test_dialed_calls_whose_callbacks_were_all_lost_get_their_rows(
    settings: Settings, front: Front, tmp_path: Path
) -> None:
    sids = [place_call(front), place_call(front, "+15005550009")]
    for sid in sids:
        report_created(settings, sid)
    with running(settings, front, tmp_path / "rec.db") as rec:
        wait_until(lambda: all(ended(front, s) for s in sids), timeout=60, what="calls end")
        wait_until(settled(settings, sids), timeout=60, what="terminal snapshots")
        assert rec.state.counts()["pending"] == 0
    first = rows(settings, tmp_path / "a.db")
    for sid in sids:
        assert first[sid]["status"] == rest_status(front, sid)
        assert first[sid]["direction"] == "outbound-api"
        assert first[sid]["account_sid"] == ACCOUNT_SID
    # the tables stay a function of the log
    assert rows(settings, tmp_path / "b.db") == first


def test_a_call_stuck_before_its_end_converges(
    settings: Settings, front: Front, tmp_path: Path
) -> None:
    sid = place_call(front)
    ringing = [
        ["AccountSid", ACCOUNT_SID],
        ["CallSid", sid],
        ["CallStatus", "ringing"],
        ["CallbackSource", "call-progress-events"],
        ["SequenceNumber", "1"],
        ["Timestamp", "Wed, 25 Nov 2026 12:00:00 +0000"],
    ]
    producer = kafka_clients.make_producer(settings, "test-ingest")
    value = envelope.encode(
        "2026-11-25T12:00:00Z", "POST", "https://x/twilio/status", ringing, None
    )
    kafka_clients.produce_and_wait(
        producer, settings.topic(CALL_STATUS), value, sid.encode(), timeout_s=15
    )
    producer.close()
    with running(settings, front, tmp_path / "rec.db"):
        wait_until(lambda: ended(front, sid), timeout=60, what="call end")
        wait_until(settled(settings, [sid]), timeout=60, what="terminal snapshot")
    row = rows(settings, tmp_path / "a.db")[sid]
    assert row["status"] == rest_status(front, sid)
    assert row["ringing_at"] == "2026-11-25T12:00:00Z"  # the callback's, kept
    # no live snapshot was appended for a call that has a callback: it would count for nothing
    assert snapshots(settings)[sid] == [row["status"]]


def test_a_429_storm_is_waited_out_for_every_call(
    settings: Settings, front: Front, tmp_path: Path
) -> None:
    stormy, calm = place_call(front), place_call(front)
    wait_until(lambda: ended(front, stormy) and ended(front, calm), timeout=60, what="calls end")
    front.plan[stormy] = [Planned(429, "1"), Planned(429, "1"), Planned(429, None)]
    report_created(settings, stormy)
    report_created(settings, calm)
    with running(settings, front, tmp_path / "rec.db") as rec:
        wait_until(settled(settings, [stormy, calm]), timeout=60, what="terminal snapshots")
        limited = rec.metrics.ask["rate-limited"]._value.get()
    assert front.count(stormy) == 4 and limited == 3
    # after each 429, no request at all (to any call) before Retry-After had passed
    storm = front.times(stormy)
    every = sorted(storm + front.times(calm))
    for t429, wait in zip(storm[:3], (1.0, 1.0, 5.0), strict=True):
        later = [t for t in every if t > t429]
        assert later and later[0] - t429 >= wait, (t429, later[:1])


def test_a_404_is_asked_once(settings: Settings, front: Front, tmp_path: Path) -> None:
    unknown = "CA" + "e" * 32  # Twilio has no such call: the emulator answers 404
    report_created(settings, unknown)
    with running(settings, front, tmp_path / "rec.db", max_attempts=3) as rec:
        wait_until(lambda: front.count(unknown) >= 1, timeout=30, what="the first ask")
        # then a call reported later is asked about and settled: the loop went on
        later = place_call(front)
        wait_until(lambda: ended(front, later), timeout=60, what="call end")
        report_created(settings, later)
        wait_until(settled(settings, [later]), timeout=60, what="terminal snapshot")
        track = rec.state.get(unknown)
        assert track is not None and track.gone and not track.pending
        assert rec.metrics.ask["not-found"]._value.get() == 1
    assert front.count(unknown) == 1
    assert unknown not in snapshots(settings)
