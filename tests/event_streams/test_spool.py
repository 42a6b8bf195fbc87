"""Broker down: an Event Streams delivery is answered 200 once its records are in the spool
(both topics), and they drain to twilio.events and twilio.call-status when it is back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callstream import envelope, kafka_clients, topics
from callstream.broker import EmbeddedBroker
from ingest.publisher import Publisher
from tests.conftest import make_settings
from tests.event_streams.vectors import body_of, cloud_event, signed
from tests.helpers import read_topic, wait_until
from tests.ingest.conftest import SOCKET_LEAK_FILTER
from tests.ingest.support import PUBLIC, call_sid, callback, served_ingest


@pytest.mark.slow
@pytest.mark.usefixtures("kafka_socket_leaks")
@pytest.mark.filterwarnings(SOCKET_LEAK_FILTER)
def test_broker_down_spools_both_topics_then_drains(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = make_settings(fresh_broker.bootstrap, "tansu", tmp_path)
    kafka_clients.ensure_topics(settings)
    sid = call_sid()
    events = [cloud_event(callback(sid, s, i)) for i, s in enumerate(["initiated", "completed"])]
    body = body_of(events)
    full, sig = signed(PUBLIC + "/twilio/events", body)
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": sig}
    path = "/twilio/events?" + full.split("?", 1)[1]
    with served_ingest(settings, ack_timeout_s=0.5) as (app, client):
        publisher: Publisher = app.state.publisher
        fresh_broker.kill()
        r = client.post(path, content=body, headers=headers)
        assert (r.status_code, r.json()) == (200, {"accepted": 2, "duplicates": 0})
        assert publisher.spooling and publisher.depth == 4
        fresh_broker.restart()  # memory storage: topics are gone until created again
        kafka_clients.ensure_topics(settings)
        wait_until(lambda: publisher.depth == 0, timeout=30, what="spool drained")
    raw = read_topic(settings, settings.topic(topics.TWILIO_EVENTS), expect=2)
    assert sorted(json.loads(m.value)["id"] for m in raw) == sorted(e["id"] for e in events)
    status = read_topic(settings, settings.topic(topics.CALL_STATUS), expect=2)
    tokens = sorted(envelope.decode(m.value).idempotency_token or "" for m in status)
    assert tokens == sorted(e["id"] for e in events)
