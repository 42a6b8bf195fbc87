"""Property: any parameters (unicode, empty, repeated names, any order) signed with the SDK
validate and come out of the envelope exactly as they went in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callstream import envelope
from ingest.callback import identify, parse_pairs
from ingest.signature import MultiParams, SignatureChecker, signed_url
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN
from tests.ingest.support import form, sign

# any Unicode text except lone surrogates (not encodable as UTF-8, so never on the wire)
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
names = st.one_of(text, st.sampled_from(["CallSid", "From", "To", "CallStatus", "Digits"]))
pairs_strategy = st.lists(st.tuples(names, text), max_size=12)
checker = SignatureChecker(AUTH_TOKEN)
SID = "CA" + "0" * 32


@settings(max_examples=300, deadline=None)
@given(extra=pairs_strategy, query=st.sampled_from(["", "tenant=acme", "a=%27b%27&c="]))
def test_signed_form_validates_and_round_trips(extra: list[tuple[str, str]], query: str) -> None:
    others = [p for p in extra if p[0] not in ("CallSid", "AccountSid")]
    sent = [("AccountSid", ACCOUNT_SID), *others, ("CallSid", SID)]
    url = signed_url("https://hooks.example.com/", "/twilio/status", query)
    signature = sign(url, sent)
    received = parse_pairs(form(sent))
    assert received == [list(p) for p in sent]
    assert checker.valid(url, MultiParams.from_pairs(received), signature)
    fast = SignatureChecker(AUTH_TOKEN, "https://hooks.example.com/")
    path = url.removeprefix("https://hooks.example.com")
    assert fast.valid_path(path, MultiParams.from_pairs(received), signature)
    tampered = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not fast.valid_path(path, MultiParams.from_pairs(received), tampered)
    assert identify(received, ACCOUNT_SID).call_sid == SID
    raw = envelope.encode("2026-11-25T12:00:00.000000Z", "POST", url, received, None)
    env = envelope.decode(raw)
    assert env.params == tuple(sent)
    assert env.url == url


@settings(max_examples=150, deadline=None)
@given(extra=pairs_strategy)
def test_signed_get_validates_and_round_trips(extra: list[tuple[str, str]]) -> None:
    sent = [
        ("CallSid", SID),
        ("AccountSid", ACCOUNT_SID),
        *[p for p in extra if p[0] not in ("CallSid", "AccountSid")],
    ]
    query = form(sent).decode()
    url = signed_url("https://hooks.example.com", "/twilio/status", query)
    signature = sign(url, None)
    assert checker.valid(url, None, signature)
    received = parse_pairs(query.encode())
    assert envelope.decode(envelope.encode("t", "GET", url, received, None)).params == tuple(sent)
