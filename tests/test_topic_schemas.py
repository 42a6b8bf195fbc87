"""The JSON Schemas and the AsyncAPI document shipped in callstream/schemas: valid documents
that agree with the topics callstream creates and with what its encoders produce.
(What the running services actually write is checked in tests/test_operator_tools.py.)"""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from callstream import schemas, topics
from callstream.dialrequest import from_input
from callstream.envelope import encode
from dialer import ledger
from tests.helpers import ACCOUNT_SID


def validator(topic: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schemas.load(topic))


@pytest.mark.parametrize("topic", schemas.TOPICS)
def test_each_schema_is_a_valid_json_schema(topic: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schemas.load(topic))


def test_the_asyncapi_document_describes_every_topic_as_created() -> None:
    doc = yaml.safe_load(schemas.asyncapi_text())
    assert doc["asyncapi"].startswith("2.")
    specs = {s.name: s for s in topics.ALL_TOPICS}
    assert set(doc["channels"]) == set(specs) == set(schemas.TOPICS)
    for name, channel in doc["channels"].items():
        kafka = channel["bindings"]["kafka"]
        assert kafka["partitions"] == specs[name].partitions, name
        kept = dict(specs[name].configs).get("retention.ms")
        assert kafka.get("topicConfiguration", {}).get("retention.ms") == (
            [int(kept)] if kept else None
        ), name
        op = channel.get("subscribe") or channel["publish"]
        assert op["message"]["payload"] == {"$ref": f"./{name}.json"}


def test_unknown_topic_is_refused() -> None:
    with pytest.raises(KeyError, match="no schema"):
        schemas.load("twilio.nope")


params = st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=8)


@given(params=params, token=st.none() | st.text(max_size=30))
def test_every_envelope_ingest_can_encode_validates(
    params: list[tuple[str, str]], token: str | None
) -> None:
    full = [("CallSid", "CA" + "0" * 32), *params]
    value = encode("2026-11-25T12:00:00.123456Z", "POST", "https://h.example/s", full, token)
    assert list(validator("twilio.call-status").iter_errors(json.loads(value))) == []


def test_a_value_that_is_not_an_envelope_is_refused() -> None:
    bad = {"v": 2, "received_at": "x", "method": "PUT", "url": 1, "params": [["a"]]}
    assert len(list(validator("twilio.call-status").iter_errors(bad))) >= 4


def test_requests_outcomes_and_ledger_records_validate() -> None:
    for body in (
        {"to": "+15005550006", "from": "+15005550001", "url": "https://e.example/t"},
        {"to": "+15005550006", "from": "+15005550001", "twiml": "<Response/>", "id": "r-1"},
    ):
        req = json.loads(from_input(body, ACCOUNT_SID).to_json())
        assert list(validator("dialer.requests").iter_errors(req)) == []
    both = {**req, "url": "https://e.example/t"}
    assert list(validator("dialer.requests").iter_errors(both))  # url and twiml: refused
    out = ledger.outcome_record(
        "r-1",
        ACCOUNT_SID,
        result="in-doubt",
        call_sid=None,
        sent_at=1.7e9,
        error={"code": "in-doubt", "message": "m"},
        attempts=1,
        reconciliation="not-found",
        candidates=[],
    )
    assert list(validator("dialer.outcomes").iter_errors(out)) == []
    for rec in (
        ledger.sending_record(
            "r-1",
            ACCOUNT_SID,
            to="+15005550006",
            from_="+1500555",
            attempt=1,
            sent_at=1.7e9,
            owner="o",
        ),
        ledger.retry_record("r-1", ACCOUNT_SID, 1, {"code": 20429, "message": "m"}, "o"),
        ledger.abandoned_record("r-1", ACCOUNT_SID, 1, "o"),
    ):
        assert list(validator("dialer.ledger").iter_errors(rec)) == [], rec
