"""The signature URL of docs/ingest.md ("The signature URL"), pinned by name:

    CALLSTREAM_PUBLIC_URL without its trailing slash
    + the request path as received
    + "?" + the raw query string, when there is one

and the check over it: a signature made the way Twilio makes it (HMAC-SHA1 of the URL and
the sorted parameters with the auth token, Base64; computed here with hashlib, not with the
code under test) is accepted with or without the port, and nothing else is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from ingest.signature import MultiParams, SignatureChecker, signed_url

TOKEN = "signature-rule-token"


def twilio_signs(url: str, params: dict[str, list[str]] | None = None) -> str:
    """Twilio's algorithm as its security page states it (names sorted, each name's
    values sorted, appended as name + value)."""
    data = url
    for name in sorted(params or {}):
        for value in sorted(set((params or {})[name])):
            data += name + value
    mac = hmac.new(TOKEN.encode(), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


# configured public URL -> the base of every signed URL (its trailing slashes dropped)
BASES = {
    "https://hooks.example.com": "https://hooks.example.com",
    "https://hooks.example.com/": "https://hooks.example.com",
    "https://hooks.example.com//": "https://hooks.example.com",
    "http://h.example.com:8080": "http://h.example.com:8080",
    # a path prefix that the ingress strips comes back from the configuration
    "https://example.com/cs/": "https://example.com/cs",
    # only slashes are trimmed, whatever else the base ends with
    "https://example.com/teamX/": "https://example.com/teamX",
    "https://example.com/team.X": "https://example.com/team.X",
}
# (path as received, raw query string, what follows the base); the query is used byte for
# byte: no re-encoding, no reordering, and no "?" without one
REQUESTS = [
    ("/twilio/status", "", "/twilio/status"),
    ("/twilio/status", "b=%2F+x&a=%7e&a=", "/twilio/status?b=%2F+x&a=%7e&a="),
    ("/s", "x", "/s?x"),
]


@pytest.mark.parametrize("request_", REQUESTS)
@pytest.mark.parametrize("base", list(BASES))
def test_signature_url_is_public_base_plus_path_plus_raw_query(
    base: str, request_: tuple[str, str, str]
) -> None:
    path, query, tail = request_
    assert signed_url(base, path, query) == BASES[base] + tail


@pytest.mark.parametrize(
    ("base", "signed"),
    [
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("https://hooks.example.com", "https://hooks.example.com:443"),
        ("https://hooks.example.com:443/", "https://hooks.example.com"),
        ("http://hooks.example.com", "http://hooks.example.com:80"),
        ("https://hooks.example.com:8443", "https://hooks.example.com:8443"),
        ("https://hooks.example.com:8443", "https://hooks.example.com"),
        ("https://example.com/cs", "https://example.com:443/cs"),
        ("https://example.com/teamX/", "https://example.com/teamX"),
    ],
)
def test_signature_url_accepted_with_and_without_the_port(base: str, signed: str) -> None:
    checker = SignatureChecker(TOKEN, base)
    params = MultiParams.from_pairs([("CallSid", "CA1"), ("Digits", "2"), ("Digits", "1")])
    path = "/twilio/status?tenant=acme"
    sig = twilio_signs(signed + path, params)
    assert checker.valid_path(path, params, sig)
    assert checker.valid(signed + path, params, sig)
    assert checker.sign(signed + path, params) == sig


def test_signature_url_get_has_no_body_parameters() -> None:
    checker = SignatureChecker(TOKEN, "https://hooks.example.com")
    path = "/twilio/status?CallSid=CA1&AccountSid=AC1"
    sig = twilio_signs("https://hooks.example.com" + path)
    assert checker.valid_path(path, None, sig)
    assert checker.valid("https://hooks.example.com" + path, None, sig)
    assert checker.sign("https://hooks.example.com" + path, None) == sig


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/twilio/status?tenant=acmf", {"CallSid": ["CA1"]}),  # another query
        ("/twilio/statu?tenant=acme", {"CallSid": ["CA1"]}),  # another path
        ("/twilio/status?tenant=acme", {"CallSid": ["CA2"]}),  # another value
        ("/twilio/status?tenant=acme", {"CallSid": ["CA1"], "x": [""]}),  # one more (empty)
        ("/twilio/status?tenant=acme", {}),  # none
    ],
)
def test_signature_over_anything_else_is_refused(path: str, params: dict[str, list[str]]) -> None:
    checker = SignatureChecker(TOKEN, "https://hooks.example.com")
    sig = twilio_signs("https://hooks.example.com/twilio/status?tenant=acme", {"CallSid": ["CA1"]})
    assert not checker.valid_path(path, MultiParams(params), sig)
    assert not checker.valid("https://hooks.example.com" + path, MultiParams(params), sig)
    other_base = SignatureChecker(TOKEN, "https://other.example.com")
    assert not other_base.valid_path(
        "/twilio/status?tenant=acme", MultiParams({"CallSid": ["CA1"]}), sig
    )
    other_token = SignatureChecker(TOKEN + "x", "https://hooks.example.com")
    assert not other_token.valid_path(
        "/twilio/status?tenant=acme", MultiParams({"CallSid": ["CA1"]}), sig
    )


@pytest.mark.parametrize("sig", ["", None])
def test_signature_missing_is_refused(sig: str | None) -> None:
    checker = SignatureChecker(TOKEN, "https://hooks.example.com")
    assert not checker.valid_path("/twilio/status", None, sig)
    assert not checker.valid("https://hooks.example.com/twilio/status", None, sig)


def test_signature_not_ascii_is_refused_not_a_crash() -> None:
    checker = SignatureChecker(TOKEN, "https://hooks.example.com")
    assert not checker.valid_path("/twilio/status", None, "é\udcff")


def test_signature_checker_needs_a_token() -> None:
    with pytest.raises(ValueError, match=r"^an auth token is required to check signatures$"):
        SignatureChecker("")


def test_signature_checker_without_a_public_url_accepts_no_path() -> None:
    """valid_path needs the configured public base; without one only valid (a full URL)
    can accept."""
    checker = SignatureChecker(TOKEN)
    url = "https://hooks.example.com/twilio/status"
    sig = twilio_signs(url)
    assert not checker.valid_path("/twilio/status", None, sig)
    assert not checker.valid_path(url, None, sig)
    assert checker.valid(url, None, sig)


def test_signature_parameters_keep_every_value_of_a_repeated_name() -> None:
    got = MultiParams.from_pairs([("b", "2"), ("a", "1"), ("b", "1"), ["c", ""]])
    assert got == {"b": ["2", "1"], "a": ["1"], "c": [""]}
    assert got.getall("b") == ["2", "1"]
    assert list(got) == ["b", "a", "c"]
