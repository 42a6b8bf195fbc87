"""POST and GET /twilio/status through the app of ``ingest.bootstrap`` with a fake Kafka
producer: what reaches the producer, byte for byte, and what is refused before it. The
same routes against a real broker: tests/ingest/test_status_route.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from callstream import topics
from tests.helpers import AUTH_TOKEN, OTHER_ACCOUNT_SID
from tests.ingest.support import FORM, call_sid, callback, form, sign
from tests.unit.ingest.fakes import (
    AT,
    PUBLIC,
    Answer,
    FakeProducerFactory,
    InProcess,
    running_ingest,
    unit_settings,
)

URL = PUBLIC + "/twilio/status"
Headers = tuple[tuple[str, str], ...]


async def post(
    client: InProcess,
    pairs: list[tuple[str, str]],
    query: str,
    headers: tuple[tuple[str, str], ...] = (),
) -> Answer:
    url = URL + f"?{query}"
    h = (("Content-Type", FORM), ("X-Twilio-Signature", sign(url, pairs)), *headers)
    return await client.request("POST", "/twilio/status", form(pairs), h, query)


def test_signed_callbacks_reach_the_producer_byte_for_byte(tmp_path: Path) -> None:
    settings = unit_settings(tmp_path)
    factory = FakeProducerFactory()
    sid_a, sid_b = call_sid(), call_sid()
    sent = [
        (sid_a, callback(sid_a, "initiated", 0)),
        (sid_b, callback(sid_b, "ringing", 0, CalledCity="São Paulo", ToZip="")),
        (sid_a, [*callback(sid_a, "ringing", 1), ("Custom", "x"), ("Custom", ""), ("N", "☎")]),
    ]

    async def scenario() -> str:
        async with running_ingest(settings, factory) as (_, client):
            for _, pairs in sent:
                r = await post(
                    client,
                    pairs,
                    query="tenant=acme&x=%27q%27",
                    headers=(("I-Twilio-Idempotency-Token", "tok-1"),),
                )
                assert (r.status, r.body) == (204, b"")
            return (await client.request("GET", "/metrics")).body.decode()

    metrics = asyncio.run(scenario())
    records = factory.producer.records
    assert [(t, k) for t, k, _ in records] == [
        (settings.topic(topics.CALL_STATUS), sid.encode()) for sid, _ in sent
    ]
    for (_, pairs), (_, _, value) in zip(sent, records, strict=True):
        env = json.loads(value)
        assert env["params"] == [list(p) for p in pairs]
        assert (env["v"], env["method"], env["received_at"]) == (1, "POST", AT)
        assert env["url"] == URL + "?tenant=acme&x=%27q%27"
        assert env["idempotency_token"] == "tok-1"
    assert "São Paulo".encode() in records[1][2]  # compact UTF-8, not \u escapes
    assert 'callstream_ingest_callbacks_total{outcome="produced"} 3.0' in metrics


def test_get_callback_with_query_parameters(tmp_path: Path) -> None:
    factory = FakeProducerFactory()
    sid = call_sid()
    pairs = callback(sid, "completed", 3, CallDuration="49", ToZip="")
    query = form(pairs).decode()

    async def scenario() -> Answer:
        async with running_ingest(unit_settings(tmp_path), factory) as (_, client):
            h = (("X-Twilio-Signature", sign(URL + "?" + query, None)),)
            return await client.request("GET", "/twilio/status", headers=h, query=query)

    assert asyncio.run(scenario()).status == 204
    ((_, key, value),) = factory.producer.records
    env = json.loads(value)
    assert key == sid.encode()
    assert (env["method"], env["url"], env["idempotency_token"]) == ("GET", URL + "?" + query, None)
    assert env["params"] == [list(p) for p in pairs]


GOOD = callback("CA" + "0" * 32)
SIG = sign(URL, GOOD)
WRONG = ("A" if SIG[0] != "A" else "B") + SIG[1:]
SIGNED = (("Content-Type", FORM), ("X-Twilio-Signature", SIG))

# name, body, headers, status, error code
REFUSED: list[tuple[str, bytes, tuple[tuple[str, str], ...], int, str]] = [
    ("unsigned", form(GOOD), (("Content-Type", FORM),), 403, "missing-signature"),
    ("wrong signature", form(GOOD), (("Content-Type", FORM), ("X-Twilio-Signature", WRONG)), 403,
     "bad-signature"),
    ("tampered body", form([*GOOD[:-1], ("To", "+14155550000")]), SIGNED, 403, "bad-signature"),
    ("extra parameter", form([*GOOD, ("Extra", "1")]), SIGNED, 403, "bad-signature"),
    ("not UTF-8", form(GOOD) + b"&City=%FF", SIGNED, 400, "malformed"),
    ("JSON", json.dumps(dict(GOOD)).encode(),
     (("Content-Type", "application/json"), ("X-Twilio-Signature", SIG)), 415,
     "unsupported-media-type"),
    ("no content type", form(GOOD), (("X-Twilio-Signature", SIG),), 415, "unsupported-media-type"),
    ("oversized", b"a=" + b"x" * 70000, SIGNED, 413, "too-large"),
]  # fmt: skip


def signed(
    pairs: list[tuple[str, str]], public: str = PUBLIC, token: str = AUTH_TOKEN
) -> tuple[bytes, Headers]:
    """A body and the headers of a POST signed for ``public`` with ``token``."""
    return form(pairs), (
        ("Content-Type", FORM),
        ("X-Twilio-Signature", sign(public + "/twilio/status", pairs, token)),
    )


# signed as Twilio signs, refused for what they say
REFUSED += [
    ("signed for another URL", *signed(GOOD, public="https://evil.example.com"), 403,
     "bad-signature"),
    ("signed with another token", *signed(GOOD, token="other-token"), 403, "bad-signature"),
    ("wrong account", *signed([("AccountSid", OTHER_ACCOUNT_SID), *GOOD[1:]]), 403,
     "wrong-account"),
    ("no CallSid", *signed([p for p in GOOD if p[0] != "CallSid"]), 400, "missing-call-sid"),
    ("malformed CallSid", *signed([(k, "CA123" if k == "CallSid" else v) for k, v in GOOD]), 400,
     "malformed-call-sid"),
    ("no AccountSid", *signed(GOOD[1:]), 400, "missing-account-sid"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "headers", "status", "code"), REFUSED)
def test_refused_requests_reach_no_producer(
    tmp_path: Path,
    name: str,
    body: bytes,
    headers: tuple[tuple[str, str], ...],
    status: int,
    code: str,
) -> None:
    factory = FakeProducerFactory()

    async def scenario() -> Answer:
        async with running_ingest(unit_settings(tmp_path), factory) as (_, client):
            return await client.request("POST", "/twilio/status", body, headers)

    r = asyncio.run(scenario())
    assert r.status == status, (name, r.body)
    answer = json.loads(r.body)
    assert answer["error"] == code and answer["message"], name
    assert factory.producer.records == []


def test_other_methods_are_refused_with_allow(tmp_path: Path) -> None:
    async def scenario() -> Answer:
        async with running_ingest(unit_settings(tmp_path), FakeProducerFactory()) as (_, c):
            return await c.request("PUT", "/twilio/status")

    r = asyncio.run(scenario())
    assert r.status == 405 and json.loads(r.body)["error"] == "method-not-allowed"
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}


def test_health_routes(tmp_path: Path) -> None:
    async def scenario() -> tuple[Answer, Answer, str]:
        async with running_ingest(unit_settings(tmp_path), FakeProducerFactory()) as (_, c):
            live = await c.request("GET", "/livez")
            ready = await c.request("GET", "/readyz")
            return live, ready, (await c.request("GET", "/metrics")).body.decode()

    live, ready, metrics = asyncio.run(scenario())
    assert json.loads(live.body) == {"status": "ok"}
    assert ready.status == 200 and json.loads(ready.body)["kafka"] is True
    assert "callstream_ingest_spool_depth 0.0" in metrics
