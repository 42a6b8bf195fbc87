"""POST /twilio/events through the app of ``ingest.bootstrap`` with a fake Kafka producer:
what reaches each topic, every refusal, repeated ids and the spool. The same route against
a real broker and a real server: tests/event_streams/."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from callstream import envelope, topics
from ingest.event_streams import MAX_EVENTS_BODY
from tests.event_streams.vectors import body_of, cloud_event, signed
from tests.helpers import AUTH_TOKEN, OTHER_ACCOUNT_SID
from tests.ingest.support import call_sid, callback
from tests.unit.ingest.fakes import (
    AT,
    PUBLIC,
    Answer,
    FakeProducerFactory,
    InProcess,
    running_ingest,
    unit_settings,
    until,
)

SINK = PUBLIC + "/twilio/events"
EVENTS = "unit." + topics.TWILIO_EVENTS
STATUS = "unit." + topics.CALL_STATUS


async def deliver(
    client: InProcess,
    body: bytes,
    *,
    url: str = SINK,
    sig: str | None = None,
    query: str | None = None,
    content_type: str = "application/json",
) -> Answer:
    full, good = signed(url, body) if query is None else (url + "?" + query, "")
    q = query if query is not None else full.split("?", 1)[1]
    headers = [("Content-Type", content_type), ("X-Twilio-Signature", sig or good)]
    return await client.request("POST", "/twilio/events", body, headers, q)


def run(tmp_path: Path, scenario: Any, factory: FakeProducerFactory | None = None) -> Any:
    settings = unit_settings(tmp_path)
    factory = factory or FakeProducerFactory()

    async def main() -> Any:
        async with running_ingest(settings, factory) as (app, client):
            return await scenario(app, client)

    return asyncio.run(main()), factory


def test_each_event_reaches_twilio_events_and_call_progress_also_the_callback_log(
    tmp_path: Path,
) -> None:
    sid = call_sid()
    ringing = cloud_event(callback(sid, "ringing", 1, CalledCity="São Paulo"), "EZ1")
    other = {
        "specversion": "1.0",
        "type": "com.twilio.voice.insights.call-summary.complete",
        "source": "/v1/Voice/Summary",
        "id": "EZ2",
        "data": {"callSid": sid},
    }
    no_call = {"specversion": "1.0", "type": "com.twilio.x", "source": "/x", "id": "EZ3"}
    body = body_of([ringing, other, no_call])

    async def scenario(app: Any, client: InProcess) -> Answer:
        return await deliver(client, body)

    r, factory = run(tmp_path, scenario)
    assert (r.status, json.loads(r.body)) == (200, {"accepted": 3, "duplicates": 0})
    recs = factory.producer.records
    events = [(k, json.loads(v)) for t, k, v in recs if t == EVENTS]
    assert events == [(sid.encode(), ringing), (sid.encode(), other), (b"EZ3", no_call)]
    [(_, k, v)] = [r for r in recs if r[0] == STATUS]
    env = envelope.decode(v)
    assert k == sid.encode()
    assert env.params == tuple(callback(sid, "ringing", 1, CalledCity="São Paulo"))
    assert (env.idempotency_token, env.received_at, env.method) == ("EZ1", AT, "POST")
    assert env.url.startswith(SINK + "?bodySHA256=")


def test_a_repeated_id_is_answered_200_and_written_once(tmp_path: Path) -> None:
    sid = call_sid()
    a = cloud_event(callback(sid, "initiated", 0), "EZa")
    b = cloud_event(callback(sid, "ringing", 1), "EZb")

    async def scenario(app: Any, client: InProcess) -> list[Answer]:
        return [
            await deliver(client, body_of([a, a])),
            await deliver(client, body_of([b, a])),
            await deliver(client, body_of([b])),
        ]

    answers, factory = run(tmp_path, scenario)
    assert [(r.status, json.loads(r.body)) for r in answers] == [
        (200, {"accepted": 1, "duplicates": 1}),
        (200, {"accepted": 1, "duplicates": 1}),
        (200, {"accepted": 0, "duplicates": 1}),
    ]
    tokens = [
        envelope.decode(v).idempotency_token for t, _, v in factory.producer.records if t == STATUS
    ]
    assert tokens == ["EZa", "EZb"]


def test_the_signature_may_be_over_the_url_with_the_default_port(tmp_path: Path) -> None:
    body = body_of([cloud_event(callback(call_sid(), "ringing", 0))])
    with_port = "https://hooks.example.com:443/twilio/events"

    async def scenario(app: Any, client: InProcess) -> Answer:
        _, sig = signed(with_port, body)
        return await deliver(client, body, sig=sig)

    r, _ = run(tmp_path, scenario)
    assert r.status == 200


def _bad_signature_cases(body: bytes) -> list[tuple[str, str, str]]:
    full, good = signed(SINK, body)
    query = full.split("?", 1)[1]
    other_body_hash = hashlib.sha256(body + b" ").hexdigest()
    wrong_hash_url = f"{SINK}?bodySHA256={other_body_hash}"
    wrong_hash_sig = RequestValidator(AUTH_TOKEN).compute_signature(wrong_hash_url, {})
    return [
        (query, "", "missing-signature"),
        (query, RequestValidator("other-token").compute_signature(full, {}), "bad-signature"),
        ("", RequestValidator(AUTH_TOKEN).compute_signature(SINK, {}), "missing-body-hash"),
        (f"bodySHA256={other_body_hash}", str(wrong_hash_sig), "bad-body-hash"),
        (query + "&extra=1", good, "bad-signature"),
    ]


def test_bad_signatures_and_body_hashes_are_403_and_nothing_is_written(tmp_path: Path) -> None:
    body = body_of([cloud_event(callback(call_sid(), "ringing", 0))])
    cases = _bad_signature_cases(body)

    async def scenario(app: Any, client: InProcess) -> list[Answer]:
        out = []
        for query, sig, _ in cases:
            headers = [("Content-Type", "application/json")]
            if sig:
                headers.append(("X-Twilio-Signature", sig))
            out.append(await client.request("POST", "/twilio/events", body, headers, query))
        return out

    answers, factory = run(tmp_path, scenario)
    assert [(r.status, json.loads(r.body)["error"]) for r in answers] == [
        (403, code) for _, _, code in cases
    ]
    assert factory.producer.records == []


@pytest.mark.parametrize(
    "events",
    [
        {"not": "an array"},
        [1],
        [{"specversion": "0.3", "type": "t", "source": "s", "id": "i"}],
        [{"specversion": "1.0", "type": "t", "source": "s"}],
        [{"specversion": "1.0", "type": "t", "source": "", "id": "i"}],
        [{"specversion": "1.0", "type": PROGRESS_TYPE, "source": "s", "id": "i"}]
        if (PROGRESS_TYPE := "com.twilio.voice.status-callback.call.ringing")
        else [],
        [cloud_event([("CallSid", "CA" + "0" * 32), ("AccountSid", "nope")])],
        [cloud_event([("CallSid", "CA" + "0" * 32), ("N", 1)])],  # type: ignore[list-item]
    ],
)
def test_a_body_that_is_not_an_array_of_cloudevents_is_400(tmp_path: Path, events: Any) -> None:
    body = body_of(events)

    async def scenario(app: Any, client: InProcess) -> Answer:
        return await deliver(client, body)

    r, factory = run(tmp_path, scenario)
    assert r.status == 400 and json.loads(r.body)["error"].startswith("malformed")
    assert factory.producer.records == []


def test_non_json_bodies_wrong_type_other_account_and_too_large(tmp_path: Path) -> None:
    not_json = b"\xff\xfe not json"
    bad_query = "bodySHA256=" + hashlib.sha256(not_json).hexdigest()
    bad_sig = RequestValidator(AUTH_TOKEN).compute_signature(SINK + "?" + bad_query, {})
    theirs = [*callback(call_sid(), "ringing", 0)[1:], ("AccountSid", OTHER_ACCOUNT_SID)]
    other = body_of([cloud_event(theirs)])
    big = body_of([cloud_event(callback(call_sid()), pad="x" * MAX_EVENTS_BODY)])

    async def scenario(app: Any, client: InProcess) -> list[Answer]:
        return [
            await client.request(
                "POST",
                "/twilio/events",
                not_json,
                [("Content-Type", "application/json"), ("X-Twilio-Signature", bad_sig)],
                bad_query,
            ),
            await deliver(client, body_of([]), content_type="application/x-www-form-urlencoded"),
            await deliver(client, other),
            await deliver(client, big),
            await client.request("GET", "/twilio/events"),
        ]

    answers, factory = run(tmp_path, scenario)
    assert [(r.status, json.loads(r.body)["error"]) for r in answers] == [
        (400, "malformed"),
        (415, "unsupported-media-type"),
        (403, "wrong-account"),
        (413, "too-large"),
        (405, "method-not-allowed"),
    ]
    assert factory.producer.records == []


def test_while_kafka_is_down_a_delivery_is_spooled_then_drained_to_both_topics(
    tmp_path: Path,
) -> None:
    sid = call_sid()
    ev = cloud_event(callback(sid, "completed", 2, CallDuration="3"), "EZs")
    factory = FakeProducerFactory(up=False)

    async def scenario(app: Any, client: InProcess) -> tuple[Answer, int]:
        r = await deliver(client, body_of([ev]))
        depth = app.state.publisher.depth
        factory.up = True
        await until(lambda: len(factory.producer.records) == 2, what="the drain")
        return r, depth

    (r, depth), factory = run(tmp_path, scenario, factory)
    assert r.status == 200 and depth == 2
    assert sorted(t for t, _, _ in factory.producer.records) == sorted([EVENTS, STATUS])


def test_every_record_written_to_twilio_events_validates_against_its_schema(
    tmp_path: Path,
) -> None:
    import jsonschema

    from callstream import schemas

    validator = jsonschema.Draft202012Validator(schemas.load(topics.TWILIO_EVENTS))
    body = body_of(
        [cloud_event(callback(call_sid(), s, i)) for i, s in enumerate(["ringing", "completed"])]
    )

    async def scenario(app: Any, client: InProcess) -> Answer:
        return await deliver(client, body)

    r, factory = run(tmp_path, scenario)
    values = [json.loads(v) for t, _, v in factory.producer.records if t == EVENTS]
    assert r.status == 200 and len(values) == 2
    assert all(list(validator.iter_errors(v)) == [] for v in values)
    assert list(validator.iter_errors({"specversion": "1.0", "id": "", "type": "t"}))


def test_a_delivery_carries_only_the_signing_accounts_events_and_its_subaccounts(
    tmp_path: Path,
) -> None:
    """Several accounts: a delivery signed with account B's token may carry B's events and
    those of B's subaccounts; an event of account A in it is refused (403, nothing written),
    as a callback signed with another account's token is."""
    from callstream.accounts import Account, configured_accounts
    from callstream.subaccounts import AccountBook

    settings = unit_settings(tmp_path)
    b_token, sub_token = "b-token-" + "7" * 24, "sub-token-" + "8" * 22
    sub = Account("AC" + "5" * 32, sub_token, parent_sid=OTHER_ACCOUNT_SID, source="discovered")
    book = AccountBook([*configured_accounts(settings), Account(OTHER_ACCOUNT_SID, b_token), sub])

    def event_of(account: str) -> dict[str, Any]:
        return cloud_event([*callback(call_sid(), "ringing", 0)[1:], ("AccountSid", account)])

    async def scenario(app: Any, client: InProcess) -> list[int]:
        out = []
        for token, accounts in (
            (b_token, [OTHER_ACCOUNT_SID, sub.sid]),  # B's own and its subaccount's
            (b_token, [settings.twilio_account_sid]),  # A's event under B's signature
            (AUTH_TOKEN, [OTHER_ACCOUNT_SID]),  # and the other way round
            (sub_token, [OTHER_ACCOUNT_SID]),  # a subaccount cannot speak for its parent
        ):
            body = body_of([event_of(a) for a in accounts])
            _, sig = signed(SINK, body, token)
            out.append((await deliver(client, body, sig=sig)).status)
        return out

    async def main() -> Any:
        factory = FakeProducerFactory()
        async with running_ingest(settings, factory, book=book) as (_app, client):
            return await scenario(_app, client), factory

    statuses, factory = asyncio.run(main())
    assert statuses == [200, 403, 403, 403]
    written = [r for r in factory.producer.records if r[0] == EVENTS]
    assert len(written) == 2  # the two events of the accepted delivery only
