"""How ingest reads a callback's parameters (docs/ingest.md, "What goes on the topic"):
"in order, repeated names kept, empty values kept, names callstream does not know kept,
``+`` and ``%XX`` decoded as UTF-8 and nothing else changed", whether the body is plain
ASCII (percent-encoded, as Twilio sends it) or carries raw UTF-8 bytes (as some clients
send it), and the identifier checks with their error codes and messages."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.callback import CallbackError, identify, is_form, parse_pairs

# any Unicode text except lone surrogates (not encodable as UTF-8, so never on the wire)
text = st.text(st.characters(codec="utf-8"), max_size=12)
pairs = st.lists(st.tuples(text, text).map(list), max_size=8)
SID = "CA" + "e" * 32
ACC = "AC" + "d" * 32


def escaped(pairs: list[list[str]]) -> bytes:
    """A form body as HTML forms and Twilio write it: every field ``name=value``."""
    return "&".join(quote_plus(n) + "=" + quote_plus(v) for n, v in pairs).encode("ascii")


@given(pairs)
def test_parameters_round_trip_an_escaped_body(sent: list[list[str]]) -> None:
    assert parse_pairs(escaped(sent)) == sent


@given(pairs, st.sampled_from(["São Paulo", "Zürich", "東京", "é"]))
def test_parameters_round_trip_a_body_with_raw_utf8(sent: list[list[str]], city: str) -> None:
    """One raw (unescaped) UTF-8 character anywhere in the body: the other fields are still
    decoded the same way, ``+`` as a space and ``%XX`` as UTF-8 bytes."""
    raw = escaped(sent)
    body = b"&".join([raw, f"City={city}".encode()]) if raw else f"City={city}".encode()
    assert parse_pairs(body) == [*sent, ["City", city]]


@pytest.mark.parametrize("utf8", [False, True])
def test_parameters_plus_escapes_empty_fields_and_bare_names(utf8: bool) -> None:
    """The same body read both ways: ``+`` is a space, ``%XX`` a UTF-8 byte, in names and
    values alike; a field without ``=`` is a name with an empty value; an empty field
    (``&&``, or a leading or trailing ``&``) is no parameter at all."""
    body = b"&a+b=c+d&&%C3%A9t%C3%A9=%E2%82%AC+1&flag&=v&e=&%2B=%25&"
    raw = "Ville=Montréal".encode() if utf8 else b"Ville=Montr%C3%A9al"
    assert parse_pairs(body + raw + b"&") == [
        ["a b", "c d"],
        ["été", "€ 1"],
        ["flag", ""],
        ["", "v"],
        ["e", ""],
        ["+", "%"],
        ["Ville", "Montréal"],
    ]


@pytest.mark.parametrize(
    "body",
    [b"a=%FF", b"%FF=a", b"a=\xff", b"\xff=a", "City=São&a=%E9".encode(), "%E9=1&é=2".encode()],
)
def test_parameters_not_utf8_are_a_400(body: bytes) -> None:
    with pytest.raises(CallbackError) as e:
        parse_pairs(body)
    assert (e.value.status, e.value.code, e.value.message) == (
        400,
        "malformed",
        "parameters are not UTF-8",
    )


def test_parameters_nothing_else_changed() -> None:
    """No trimming, no case folding, ``=`` after the first kept in the value, an incomplete
    escape kept as it is."""
    assert parse_pairs(b" A = b==c &x=%4&y=%") == [[" A ", " b==c "], ["x", "%4"], ["y", "%"]]
    assert parse_pairs(" É = b==ç &x=%4".encode()) == [[" É ", " b==ç "], ["x", "%4"]]


def test_form_content_type() -> None:
    assert is_form("application/x-www-form-urlencoded")
    assert is_form(" application/x-www-form-urlencoded ; charset=UTF-8; x=;y")
    assert not is_form("application/x-www-form-urlencoded-not")
    assert not is_form("text/plain; application/x-www-form-urlencoded")
    assert not is_form("")


# -- identifiers ---------------------------------------------------------------------------


def refused(pairs: list[list[str]]) -> tuple[int, str, str]:
    with pytest.raises(CallbackError) as e:
        identify(pairs, ACC)
    assert str(e.value) == e.value.message
    return e.value.status, e.value.code, e.value.message


def test_identifiers_checked_with_their_codes_and_messages() -> None:
    assert refused([["AccountSid", ACC]]) == (
        400,
        "missing-call-sid",
        "the callback has no CallSid",
    )
    assert refused([["CallSid", SID]]) == (
        400,
        "missing-account-sid",
        "the callback has no AccountSid",
    )
    assert refused([["CallSid", SID + "0"], ["AccountSid", ACC]]) == (
        400,
        "malformed-call-sid",
        "CallSid must be 'CA' followed by 32 hex digits",
    )
    assert refused([["CallSid", SID], ["AccountSid", "ac" + ACC[2:]]]) == (
        400,
        "malformed-account-sid",
        "AccountSid must be 'AC' followed by 32 hex digits",
    )
    assert refused([["CallSid", SID], ["AccountSid", ACC], ["AccountSid", "AC" + "0" * 32]]) == (
        400,
        "malformed",
        "AccountSid is given twice with different values",
    )
    assert refused([["CallSid", SID], ["AccountSid", "AC" + "0" * 32]]) == (
        403,
        "wrong-account",
        "the callback is for another account",
    )


def test_identifiers_given_twice_alike_are_fine() -> None:
    ident = identify([["CallSid", SID], ["AccountSid", ACC], ["CallSid", SID], ["x", "1"]], ACC)
    assert (ident.call_sid, ident.account_sid) == (SID, ACC)
