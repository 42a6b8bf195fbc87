"""POST and GET /twilio/status through the real app (uvicorn on loopback) into a real broker."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from callstream import topics
from callstream.settings import Settings
from tests.helpers import OTHER_ACCOUNT_SID, read_topic
from tests.ingest.support import (
    FORM,
    PUBLIC,
    call_sid,
    callback,
    envelopes,
    form,
    get_callback,
    post_callback,
    served_ingest,
    sign,
)


def test_signed_callbacks_arrive_byte_for_byte(settings: Settings) -> None:
    sid_a, sid_b = call_sid(), call_sid()
    sent = [
        (sid_a, callback(sid_a, "initiated", 0)),
        (sid_b, callback(sid_b, "ringing", 0, CalledCity="São Paulo", ToZip="")),
        # repeated names, out of alphabetical order, an unknown new parameter, emoji
        (
            sid_a,
            [
                *callback(sid_a, "ringing", 1),
                ("StirStatus", "A"),
                ("Custom", "x"),
                ("Custom", ""),
                ("Custom", "y z&="),
                ("NewParam", "☎ 日本"),
            ],
        ),
    ]
    with served_ingest(settings) as (_, client):
        for _, pairs in sent:
            r = post_callback(
                client,
                pairs,
                query="tenant=acme&x=%27q%27",
                headers={"I-Twilio-Idempotency-Token": "tok-1"},
            )
            assert r.status_code == 204, r.text
            assert r.content == b""
        metrics = client.get("/metrics").text
    records = read_topic(settings, settings.topic(topics.CALL_STATUS), expect=3)
    by_key: dict[bytes, list[dict[str, object]]] = {}
    for rec, env in zip(records, envelopes(records), strict=True):
        by_key.setdefault(rec.key, []).append(env)
    assert [e["params"] for e in by_key[sid_a.encode()]] == [
        [list(p) for p in sent[0][1]],
        [list(p) for p in sent[2][1]],
    ]
    (env_b,) = by_key[sid_b.encode()]
    assert env_b["params"] == [list(p) for p in sent[1][1]]
    assert env_b["v"] == 1 and env_b["method"] == "POST"
    assert env_b["url"] == PUBLIC + "/twilio/status?tenant=acme&x=%27q%27"
    assert env_b["idempotency_token"] == "tok-1"
    assert str(env_b["received_at"]).endswith("Z")
    # the value is compact UTF-8 JSON (not \u escapes)
    raw = next(r.value for r in records if r.key == sid_b.encode())
    assert "São Paulo".encode() in raw
    assert 'callstream_ingest_callbacks_total{outcome="produced"} 3.0' in metrics


def test_get_callback_with_query_parameters(settings: Settings) -> None:
    sid = call_sid()
    pairs = callback(sid, "completed", 3, CallDuration="49", CalledCity="São Paulo", ToZip="")
    with served_ingest(settings) as (_, client):
        r = get_callback(client, pairs)
        assert r.status_code == 204, r.text
    (rec,) = read_topic(settings, settings.topic(topics.CALL_STATUS), expect=1)
    env = json.loads(rec.value)
    assert rec.key == sid.encode()
    assert env["method"] == "GET"
    assert env["params"] == [list(p) for p in pairs]
    assert env["url"] == PUBLIC + "/twilio/status?" + form(pairs).decode()
    assert env["idempotency_token"] is None


def test_rejected_requests_append_nothing(settings: Settings) -> None:
    sid = call_sid()
    good = callback(sid)
    url = PUBLIC + "/twilio/status"
    with served_ingest(settings) as (_, client):

        def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
            return client.post("/twilio/status", content=body, headers=headers)

        sig = sign(url, good)
        wrong = ("A" if sig[0] != "A" else "B") + sig[1:]
        cases: list[tuple[str, httpx.Response, int, str]] = [
            ("unsigned", post(form(good), {"Content-Type": FORM}), 403, "missing-signature"),
            (
                "wrong signature",
                post(form(good), {"Content-Type": FORM, "X-Twilio-Signature": wrong}),
                403,
                "bad-signature",
            ),
            (
                "tampered body",
                post(
                    form([*good[:-1], ("To", "+14155550000")]),
                    {"Content-Type": FORM, "X-Twilio-Signature": sig},
                ),
                403,
                "bad-signature",
            ),
            (
                "extra parameter",
                post(
                    form([*good, ("Extra", "1")]), {"Content-Type": FORM, "X-Twilio-Signature": sig}
                ),
                403,
                "bad-signature",
            ),
            (
                "signed for another URL",
                post_callback(
                    client, good, path="/twilio/status", public="https://evil.example.com"
                ),
                403,
                "bad-signature",
            ),
            (
                "signed with another token",
                post_callback(client, good, token="other-token"),
                403,
                "bad-signature",
            ),
            (
                "query added after signing",
                client.post(
                    "/twilio/status?x=1",
                    content=form(good),
                    headers={"Content-Type": FORM, "X-Twilio-Signature": sig},
                ),
                403,
                "bad-signature",
            ),
            (
                "wrong account",
                post_callback(client, [("AccountSid", OTHER_ACCOUNT_SID), *good[1:]]),
                403,
                "wrong-account",
            ),
            (
                "no CallSid",
                post_callback(client, [p for p in good if p[0] != "CallSid"]),
                400,
                "missing-call-sid",
            ),
            (
                "malformed CallSid",
                post_callback(client, [(k, "CA123" if k == "CallSid" else v) for k, v in good]),
                400,
                "malformed-call-sid",
            ),
            ("no AccountSid", post_callback(client, good[1:]), 400, "missing-account-sid"),
            (
                "malformed AccountSid",
                post_callback(client, [("AccountSid", "AC" + "Z" * 32), *good[1:]]),
                400,
                "malformed-account-sid",
            ),
            (
                "not UTF-8",
                post(form(good) + b"&City=%FF", {"Content-Type": FORM, "X-Twilio-Signature": sig}),
                400,
                "malformed",
            ),
            (
                "JSON",
                post(
                    json.dumps(dict(good)).encode(),
                    {"Content-Type": "application/json", "X-Twilio-Signature": sig},
                ),
                415,
                "unsupported-media-type",
            ),
            (
                "multipart",
                client.post(
                    "/twilio/status", files={"a": b"b"}, headers={"X-Twilio-Signature": sig}
                ),
                415,
                "unsupported-media-type",
            ),
            (
                "no content type",
                post(form(good), {"X-Twilio-Signature": sig}),
                415,
                "unsupported-media-type",
            ),
            (
                "oversized (Content-Length)",
                post(b"a=" + b"x" * 70000, {"Content-Type": FORM, "X-Twilio-Signature": sig}),
                413,
                "too-large",
            ),
            (
                "oversized (chunked)",
                client.post(
                    "/twilio/status",
                    content=iter([b"a=", b"x" * 40000, b"x" * 40000]),
                    headers={"Content-Type": FORM, "X-Twilio-Signature": sig},
                ),
                413,
                "too-large",
            ),
            (
                "unsigned GET",
                client.get("/twilio/status?" + form(good).decode()),
                403,
                "missing-signature",
            ),
        ]
        for name, r, status, code in cases:
            assert r.status_code == status, (name, r.status_code, r.text)
            body = r.json()
            assert body["error"] == code, (name, body)
            assert isinstance(body["message"], str) and body["message"], name
        assert client.put("/twilio/status").status_code == 405
        # one good callback after all of them: it must be the only record
        assert post_callback(client, good).status_code == 204
        metrics = client.get("/metrics").text
    records = read_topic(settings, settings.topic(topics.CALL_STATUS), idle=0.5)
    assert [json.loads(r.value)["params"] for r in records] == [[list(p) for p in good]]
    assert 'callstream_ingest_callbacks_total{outcome="bad-signature"} 8.0' in metrics
    assert 'callstream_ingest_callbacks_total{outcome="too-large"} 2.0' in metrics


def test_rejections_are_logged_without_the_token(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="callstream.ingest"),
        served_ingest(settings) as (_, client),
    ):
        r = client.post(
            "/twilio/status",
            content=form(callback(call_sid())),
            headers={"Content-Type": FORM, "X-Twilio-Signature": "nope"},
        )
        assert r.status_code == 403
    rejected = [rec for rec in caplog.records if rec.getMessage() == "rejected"]
    assert len(rejected) == 1
    assert rejected[0].reason == "bad-signature"  # type: ignore[attr-defined]
    assert rejected[0].status == 403  # type: ignore[attr-defined]
    assert settings.twilio_auth_token and settings.twilio_auth_token not in caplog.text


def test_health_routes(settings: Settings) -> None:
    with served_ingest(settings) as (_, client):
        assert client.get("/livez").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["kafka"] is True
        metrics = client.get("/metrics").text
        assert "callstream_ingest_produce_latency_seconds_bucket" in metrics
        assert "callstream_ingest_spool_depth 0.0" in metrics
