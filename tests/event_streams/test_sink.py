"""The Event Streams route served for real (uvicorn on loopback, a real broker), and the
emulator's ``--event-sink`` delivering to it: signing, backoff, its chaos switches, and the
mirror surviving the status callbacks' own ``--chaos-drop``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from twilio.rest import Client

from callstream import envelope, topics
from callstream.broker import free_port
from callstream.settings import Settings
from emulator import EmulatorConfig, create_app
from emulator.chaos import Chaos
from emulator.event_sink import SinkChaos, SinkConfig
from tests.event_streams.vectors import body_of, cloud_event, signed
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, ServedApp, read_topic, wait_until
from tests.ingest.support import call_sid, callback, served_ingest


@contextmanager
def ingest_at_its_public_url(settings: Settings) -> Iterator[tuple[Settings, httpx.Client]]:
    """Ingest served on a port chosen first, so its public URL is the one requested (the
    emulator signs the URL it posts to, as Twilio does)."""
    port = free_port("127.0.0.1")
    s = dataclasses.replace(settings, public_url=f"http://127.0.0.1:{port}")
    from ingest.bootstrap import create_app as ingest_app

    with (
        ServedApp(ingest_app(s), port=port) as served,
        httpx.Client(base_url=served.url, timeout=30) as client,
    ):
        yield s, client


def test_a_signed_delivery_reaches_both_topics_in_a_real_broker(settings: Settings) -> None:
    sid = call_sid()
    events = [
        cloud_event(callback(sid, "initiated", 0), "EZ0"),
        cloud_event(callback(sid, "ringing", 1), "EZ1"),
    ]
    body = body_of(events)
    with served_ingest(settings) as (_, client):
        full, sig = signed("https://hooks.example.com/twilio/events", body)
        query = full.split("?", 1)[1]
        headers = {"Content-Type": "application/json", "X-Twilio-Signature": sig}
        r = client.post("/twilio/events?" + query, content=body, headers=headers)
        again = client.post("/twilio/events?" + query, content=body, headers=headers)
        bad = client.post("/twilio/events?" + query, content=body + b" ", headers=headers)
        metrics = client.get("/metrics").text
    assert (r.status_code, r.json()) == (200, {"accepted": 2, "duplicates": 0})
    assert (again.status_code, again.json()) == (200, {"accepted": 0, "duplicates": 2})
    assert (bad.status_code, bad.json()["error"]) == (403, "bad-body-hash")
    raw = read_topic(settings, settings.topic(topics.TWILIO_EVENTS), expect=2)
    assert [(m.key, json.loads(m.value)) for m in raw] == [(sid.encode(), e) for e in events]
    status = read_topic(settings, settings.topic(topics.CALL_STATUS), expect=2)
    assert [envelope.decode(m.value).idempotency_token for m in status] == ["EZ0", "EZ1"]
    assert 'callstream_ingest_event_deliveries_total{outcome="accepted"} 2.0' in metrics
    assert 'callstream_ingest_events_total{kind="duplicate"} 2.0' in metrics


def _emulator(sink: str, chaos: SinkChaos, drop: float) -> ServedApp:
    config = EmulatorConfig(
        ACCOUNT_SID,
        AUTH_TOKEN,
        cps=50,
        speed=20,
        chaos=Chaos(drop=drop),
        seed=7,
        event_sink=SinkConfig(sink, chaos),
    )
    return ServedApp(create_app(config))


def _place_calls(emu: ServedApp, n: int) -> list[str]:
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = emu.url
    return [
        client.calls.create(
            to="+15558675310",
            from_="+15005550006",
            twiml="<Response><Say>hi</Say></Response>",
            status_callback="http://127.0.0.1:9/never",  # dropped anyway (drop=1)
            status_callback_event=["initiated", "ringing", "answered", "completed"],
        ).sid
        for _ in range(n)
    ]


def _sink_log(emu: ServedApp) -> dict[str, Any]:
    return dict(httpx.get(emu.url + "/emulator/events").json())


def test_the_emulator_mirrors_every_callback_through_its_chaos(settings: Settings) -> None:
    chaos = SinkChaos(lose_first=True, duplicate=1.0, reorder=True, batch_size=3)
    with ingest_at_its_public_url(settings) as (s, client):
        with _emulator(s.public_base + "/twilio/events", chaos, drop=1.0) as emu:
            sids = _place_calls(emu, 3)
            rest = Client(ACCOUNT_SID, AUTH_TOKEN)
            rest.api.base_url = emu.url
            wait_until(
                lambda: all(rest.calls(sid).fetch().status == "completed" for sid in sids),
                timeout=60,
                what="calls completed",
            )
            wait_until(lambda: _sink_log(emu)["pending"] == 0, timeout=60, what="sink settled")
            log = _sink_log(emu)
            callbacks = httpx.get(emu.url + "/emulator/callbacks").json()
        metrics = client.get("/metrics").text
    assert {c["outcome"] for c in callbacks} == {"dropped"}  # no callback reached anyone
    batches = log["batches"]
    assert all(b["outcome"] == "delivered" for b in batches)
    assert all(b["results"][0] == "lost (chaos)" and b["attempts"] >= 2 for b in batches)
    assert all(b["deliveries"] == 2 and len(b["ids"]) <= 3 for b in batches)
    ids = [i for b in batches for i in b["ids"]]
    assert len(ids) == len(set(ids)) == 4 * len(sids)  # one event per callback
    status = read_topic(s, s.topic(topics.CALL_STATUS), expect=len(ids))
    seen = {
        (env.call_sid, env.get("SequenceNumber"), env.get("CallStatus"))
        for env in (envelope.decode(m.value) for m in status)
    }
    expected = {(c["call_sid"], str(c["sequence_number"]), c["call_status"]) for c in callbacks}
    assert seen == expected
    assert f'callstream_ingest_events_total{{kind="duplicate"}} {float(len(ids))}' in metrics
    assert 'callstream_ingest_event_deliveries_total{outcome="bad-signature"} 0.0' in metrics


def test_the_sink_retries_with_backoff_until_ingest_answers(settings: Settings) -> None:
    port = free_port("127.0.0.1")
    sink = f"http://127.0.0.1:{port}/twilio/events"
    with _emulator(sink, SinkChaos(), drop=0.0) as emu:
        [sid] = _place_calls(emu, 1)
        wait_until(
            lambda: any(len(b["results"]) >= 2 for b in _sink_log(emu)["batches"]),
            timeout=60,
            what="two failed attempts",
        )
        assert all(b["outcome"] == "pending" for b in _sink_log(emu)["batches"])
        s = dataclasses.replace(settings, public_url=f"http://127.0.0.1:{port}")
        from ingest.bootstrap import create_app as ingest_app

        with ServedApp(ingest_app(s), port=port):
            wait_until(lambda: _sink_log(emu)["pending"] == 0, timeout=120, what="delivered")
        log = _sink_log(emu)
    assert all(b["outcome"] == "delivered" for b in log["batches"])
    assert all(set(b["results"][:-1]) == {"connect-failed"} for b in log["batches"])
    raw = read_topic(s, s.topic(topics.TWILIO_EVENTS), expect=4)
    assert {m.key for m in raw} == {sid.encode()}


def test_a_batch_is_given_up_once_its_retry_budget_is_spent() -> None:
    port = free_port("127.0.0.1")  # nothing listens there
    config = EmulatorConfig(
        ACCOUNT_SID,
        AUTH_TOKEN,
        cps=50,
        speed=20,
        event_sink=SinkConfig(f"http://127.0.0.1:{port}/twilio/events", give_up_s=10.0),
    )
    with ServedApp(create_app(config)) as emu:
        _place_calls(emu, 1)
        wait_until(lambda: _sink_log(emu)["pending"] == 0, timeout=60, what="given up")
        batches = _sink_log(emu)["batches"]
    assert batches and all(b["outcome"] == "given-up" for b in batches)
    # backoff doubles from 0.5-1 s: a 10 s budget allows a handful of attempts, not one
    assert all(3 <= b["attempts"] <= 6 for b in batches)
    assert all(set(b["results"]) == {"connect-failed"} for b in batches)
