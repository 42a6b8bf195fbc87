"""The callback envelope (docs/ingest.md, "What goes on the topic"): every parameter kept as
received, compact UTF-8 JSON in the contract's key order, and a reason a person can read
for every record that is not an envelope (the projector stores it in ``rejected_events``)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from callstream.envelope import CallbackEnvelope, EnvelopeError, decode, encode
from callstream.timefmt import now_iso

HEAD = '{"v":1,"received_at":"t","method":"POST","url":"u"'


def test_envelope_layout_is_the_contracts() -> None:
    """Keys in the contract's order, no spaces, non-ASCII as UTF-8."""
    raw = encode("t", "POST", "u", [["Ville", "Montréal"], ["A", ""]], "tok")
    assert (
        raw
        == (HEAD + ',"params":[["Ville","Montréal"],["A",""]],"idempotency_token":"tok"}').encode()
    )
    env = CallbackEnvelope("t", "POST", "u", (("Ville", "Montréal"), ("A", "")), "tok")
    assert env.to_json() == raw
    assert env.to_dict() == {
        "v": 1,
        "received_at": "t",
        "method": "POST",
        "url": "u",
        "params": [["Ville", "Montréal"], ["A", ""]],
        "idempotency_token": "tok",
    }
    assert decode(raw) == env
    assert decode(raw.decode()) == env


def test_envelope_get_and_call_sid_read_the_first_value() -> None:
    env = CallbackEnvelope("t", "GET", "u", (("CallSid", "CA1"), ("CallSid", "CA2")))
    assert (env.call_sid, env.get("CallSid"), env.get("callsid")) == ("CA1", "CA1", None)
    assert CallbackEnvelope("t", "GET", "u", ()).call_sid is None


def body(**fields: Any) -> str:
    rec: dict[str, Any] = {"v": 1, "received_at": "t", "method": "POST", "url": "u", "params": []}
    rec.update(fields)
    return json.dumps({k: v for k, v in rec.items() if v is not ...})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "record has no value"),
        ("[]", "value is not a JSON object"),
        ('"v"', "value is not a JSON object"),
        (body(v=2), "unsupported envelope version 2 (this reader knows 1)"),
        (body(v=...), "unsupported envelope version None (this reader knows 1)"),
        (body(v="1"), "unsupported envelope version '1' (this reader knows 1)"),
        (body(received_at=...), "field 'received_at' is missing or not a string"),
        (body(method=1), "field 'method' is missing or not a string"),
        (body(url=None), "field 'url' is missing or not a string"),
        (body(params=...), "field 'params' is missing or not a list"),
        (body(params={"a": "b"}), "field 'params' is missing or not a list"),
        (body(idempotency_token=5), "field 'idempotency_token' must be a string or null"),
    ],
)
def test_envelope_refused_with_a_reason(raw: str | None, reason: str) -> None:
    with pytest.raises(EnvelopeError) as e:
        decode(raw)
    assert str(e.value) == reason


@pytest.mark.parametrize(
    "params",
    [[["a"]], [["a", "b", "c"]], ["ab"], [[1, "b"]], [["a", 2]], [["a", None]], [None]],
)
def test_envelope_params_must_be_pairs_of_strings(params: list[Any]) -> None:
    with pytest.raises(EnvelopeError) as e:
        decode(body(params=[["ok", "1"], *params]))
    assert str(e.value) == "each entry of 'params' must be a [name, value] pair of strings"


@pytest.mark.parametrize("raw", [b"\xff{}", b"{", "[" * 100_000])
def test_envelope_not_json_says_so(raw: bytes | str) -> None:
    with pytest.raises(EnvelopeError) as e:
        decode(raw)
    assert str(e.value).startswith("value is not UTF-8 JSON: ")


def test_envelope_received_at_is_utc_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """received_at is ISO 8601 UTC with microseconds and a Z, on a host in any zone."""
    monkeypatch.setenv("TZ", "XYZ-14")  # POSIX spelling of UTC+14: needs no zone database
    time.tzset()
    try:
        got = now_iso()  # the clock that stamps an envelope's received_at
        now = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", got)
    stamp = datetime.strptime(got, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((now - stamp).total_seconds()) < 60
