"""Real processes (broker, emulator, ingest, projector): the emulator loses 40 % of its
status callbacks and mirrors every one through Event Streams (losing each batch's first
attempt, delivering each batch twice). Every call's row must count each event once, the
callbacks that arrived by both routes included, and agree with the emulator's REST truth."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from twilio.rest import Client

from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
CALLS = 8
EVENTS = ["initiated", "ringing", "answered", "completed"]


def _rows(db: Path) -> dict[str, tuple[str, int, int]]:
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        cur = conn.execute("SELECT call_sid, status, events_count, last_sequence_number FROM calls")
        return {r[0]: (r[1], r[2], r[3]) for r in cur}
    except sqlite3.OperationalError:  # the projector has not created its tables yet
        return {}
    finally:
        conn.close()


def test_a_callback_and_its_event_streams_copy_are_counted_once(tmp_path: Path) -> None:
    with Pipeline(tmp_path) as p:
        sink = p["ingest"].url + "/twilio/events"
        p["emulator"].argv += [
            *("--speed", "20", "--cps", "50", "--seed", "5", "--chaos-drop", "0.4"),
            *("--event-sink", sink, "--event-sink-lose-first", "--event-sink-duplicate", "1"),
            *("--event-sink-batch", "3", "--event-sink-reorder"),
        ]
        p.start("broker", "ingest", "projector", "emulator")
        client = Client(ACCOUNT_SID, AUTH_TOKEN)
        client.api.base_url = p["emulator"].url
        sids = [
            client.calls.create(
                to="+15558675310",
                from_="+15005550006",
                twiml="<Response><Say>hi</Say></Response>",
                status_callback=p["ingest"].url + "/twilio/status",
                status_callback_event=EVENTS,
            ).sid
            for _ in range(CALLS)
        ]

        def sink_settled() -> bool:
            log = httpx.get(p["emulator"].url + "/emulator/events").json()
            return bool(log["batches"]) and log["pending"] == 0

        wait_until(sink_settled, timeout=120, what="every event batch delivered")
        callbacks = httpx.get(p["emulator"].url + "/emulator/callbacks").json()
        outcomes = [c["outcome"] for c in callbacks]
        assert "dropped" in outcomes and "delivered" in outcomes  # both paths exercised
        truth = {sid: client.calls(sid).fetch().status for sid in sids}
        db = Path(p.env["CALLSTREAM_DB"])
        want = {sid: (truth[sid], 4, 3) for sid in sids}
        wait_until(
            lambda: {s: r for s, r in _rows(db).items() if s in want} == want,
            timeout=60,
            what="the projector's rows",
        )
        assert set(truth.values()) == {"completed"}
        metrics = httpx.get(p["ingest"].url + "/metrics").text
        assert 'callstream_ingest_event_deliveries_total{outcome="bad-signature"} 0.0' in metrics
