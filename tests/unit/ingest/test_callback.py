"""Parsing and checking a callback (pure: no broker, no HTTP)."""

from __future__ import annotations

import pytest

from ingest.callback import CallbackError, identify, is_form, parse_pairs
from tests.helpers import ACCOUNT_SID, OTHER_ACCOUNT_SID

SID = "CA" + "a" * 32


def test_parse_keeps_order_repeats_and_empty_values() -> None:
    raw = b"b=2&a=1&b=&a=3&CalledCity=S%C3%A3o+Paulo&flag&&plus=%2B1&x=%"
    assert parse_pairs(raw) == [
        ["b", "2"],
        ["a", "1"],
        ["b", ""],
        ["a", "3"],
        ["CalledCity", "São Paulo"],
        ["flag", ""],
        ["plus", "+1"],
        ["x", "%"],
    ]


def test_parse_raw_utf8_bytes_and_empty_body() -> None:
    assert parse_pairs("City=São Paulo".encode()) == [["City", "São Paulo"]]
    assert parse_pairs(b"") == []


@pytest.mark.parametrize("raw", [b"a=%FF", b"a=\xff", b"%C3=1"])
def test_parse_rejects_non_utf8(raw: bytes) -> None:
    with pytest.raises(CallbackError) as e:
        parse_pairs(raw)
    assert e.value.status == 400


def test_is_form() -> None:
    assert is_form("application/x-www-form-urlencoded")
    assert is_form("Application/X-WWW-Form-Urlencoded; charset=utf-8")
    assert not is_form("application/json")
    assert not is_form("multipart/form-data; boundary=x")
    assert not is_form(None)


def test_identify_ok() -> None:
    ident = identify([["AccountSid", ACCOUNT_SID], ["CallSid", SID], ["CallSid", SID]], ACCOUNT_SID)
    assert (ident.call_sid, ident.account_sid) == (SID, ACCOUNT_SID)


@pytest.mark.parametrize(
    ("pairs", "status", "code"),
    [
        ([["AccountSid", ACCOUNT_SID]], 400, "missing-call-sid"),
        ([["CallSid", SID]], 400, "missing-account-sid"),
        ([["AccountSid", ACCOUNT_SID], ["CallSid", "CA123"]], 400, "malformed-call-sid"),
        ([["AccountSid", ACCOUNT_SID], ["CallSid", "CA" + "A" * 32]], 400, "malformed-call-sid"),
        ([["AccountSid", ACCOUNT_SID], ["CallSid", "XX" + "a" * 32]], 400, "malformed-call-sid"),
        ([["AccountSid", "AC12"], ["CallSid", SID]], 400, "malformed-account-sid"),
        (
            [["AccountSid", ACCOUNT_SID], ["CallSid", SID], ["CallSid", "CA" + "b" * 32]],
            400,
            "malformed",
        ),
        ([["AccountSid", OTHER_ACCOUNT_SID], ["CallSid", SID]], 403, "wrong-account"),
    ],
)
def test_identify_rejects(pairs: list[list[str]], status: int, code: str) -> None:
    with pytest.raises(CallbackError) as e:
        identify(pairs, ACCOUNT_SID)
    assert (e.value.status, e.value.code) == (status, code)
