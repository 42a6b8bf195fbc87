from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstream.envelope import SCHEMA_VERSION, CallbackEnvelope, EnvelopeError, decode, encode

params_st = st.lists(st.tuples(st.text(), st.text()), max_size=30)


@given(params=params_st, url=st.text(), token=st.none() | st.text())
def test_round_trip_keeps_params_exactly(
    params: list[tuple[str, str]], url: str, token: str | None
) -> None:
    raw = encode("2026-11-25T12:00:00.000000Z", "POST", url, params, token)
    env = decode(raw)
    assert env.params == tuple(params)
    assert env.url == url and env.idempotency_token == token
    assert env.v == SCHEMA_VERSION
    assert decode(env.to_json()) == env


def test_encoding_is_compact_utf8_json_in_contract_shape() -> None:
    raw = encode("t", "GET", "u", [["CalledCity", "São Paulo"], ["ToZip", ""]], None)
    assert "São Paulo".encode() in raw  # not \u-escaped
    assert json.loads(raw) == {
        "v": 1,
        "received_at": "t",
        "method": "GET",
        "url": "u",
        "params": [["CalledCity", "São Paulo"], ["ToZip", ""]],
        "idempotency_token": None,
    }


def test_get_returns_the_first_value() -> None:
    env = CallbackEnvelope("t", "POST", "u", (("A", "1"), ("A", "2"), ("CallSid", "CAx")))
    assert env.get("A") == "1" and env.call_sid == "CAx" and env.get("B") is None


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (None, "no value"),
        (b"\xff\xfe", "UTF-8 JSON"),
        (b"[1]", "JSON object"),
        (b'{"v": 2}', "version"),
        (b'{"v": 1, "received_at": "t", "method": "POST", "url": 3}', "'url'"),
        (b'{"v": 1, "received_at": "t", "method": "POST", "url": "u"}', "'params'"),
        (b'{"v": 1, "received_at": "t", "method": "POST", "url": "u", "params": [["a"]]}', "pair"),
        (
            b'{"v": 1, "received_at": "t", "method": "POST", "url": "u", "params": [],'
            b' "idempotency_token": 5}',
            "idempotency_token",
        ),
    ],
)
def test_malformed_records_are_refused_with_a_reason(raw: bytes | None, needle: str) -> None:
    with pytest.raises(EnvelopeError, match=needle):
        decode(raw)
