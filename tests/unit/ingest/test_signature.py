"""The signature check against Twilio's published vectors and the SDK's own signing.

Vectors: twilio-python's request-validator tests and Twilio's security page (token
``12345``), plus one status-callback vector computed with twilio-python 9.13 and checked
with a plain hmac/hashlib implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from ingest.signature import MultiParams, SignatureChecker, signed_url

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS_A = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]

checker = SignatureChecker(TOKEN)


def mp(pairs: list[tuple[str, str]]) -> MultiParams:
    return MultiParams.from_pairs(pairs)


def test_vector_a_form_post() -> None:
    assert checker.valid(URL, mp(PARAMS_A), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert checker.sign(URL, mp(PARAMS_A)) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com:80/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    ],
)
def test_vector_b_signatures_with_ports(url: str, signature: str) -> None:
    assert checker.sign(url, mp(PARAMS_A)) == signature
    assert checker.valid(url, mp(PARAMS_A), signature)


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        # signed without the port; validated URL has a non-default one: port stripped
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        # signed with :443 / :80; validated URL has none: the default port is added
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_vector_b_port_variants_accepted(url: str, signature: str) -> None:
    assert checker.valid(url, mp(PARAMS_A), signature)


def test_vector_c_repeated_keys() -> None:
    pairs = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert checker.sign(URL, mp(pairs)) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert checker.valid(URL, mp(pairs), "IK+Dwps556ElfBT0I3Rgjkr1wJU=")
    # a plain dict would keep only one Digits value and fail: MultiParams keeps them all
    assert not checker.valid(
        URL,
        {"Sid": "CA123", "SidAccount": "AC123", "Digits": "1234"},  # type: ignore[arg-type]
        "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
    )


def test_vector_d_json_body_hash_is_the_validators_not_ours() -> None:
    # JSON bodies (bodySHA256) are not status callbacks: the route answers 415 to them.
    # The validator itself still checks them when handed the raw body as a string.
    body = '{"property": "value", "boolean": true}'
    digest = hashlib.sha256(body.encode()).hexdigest()
    assert digest == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = URL + "&bodySHA256=" + digest
    assert checker._validator.validate(url, body, "a9nBmqA0ju/hNViExpshrM61xv4=")


def test_vector_e_twilio_security_page_example() -> None:
    pairs = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675310"),
        ("Digits", "1234"),
        ("From", "+14158675310"),
        ("To", "+18005551212"),
    ]
    assert checker.valid(
        "https://example.com/myapp.php?foo=1&bar=2", mp(pairs), "L/OH5YylLD5NRKLltdqwSvS0BnU="
    )


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        ("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", "CukzLTc1tT5dXEDIHm/tKBanW10="),
        ("https://user@mycompany.com/myapp.php?foo=1&bar=2", "2YRLlVAflCqxaNicjMpJcSTgzSs="),
    ],
)
def test_vector_f_credentials_in_url(url: str, signature: str) -> None:
    # applies when CALLSTREAM_PUBLIC_URL itself carries user:pass@ (Twilio's docs say it
    # drops credentials before signing; twilio-node's tests sign them): the URL is used as
    # configured, so whichever the operator configures is what is checked
    assert checker.valid(url, mp(PARAMS_A), signature)


G_PARAMS = [
    ("AccountSid", "AC00000000000000000000000000000000"),
    ("ApiVersion", "2010-04-01"),
    ("CallSid", "CA11111111111111111111111111111111"),
    ("CallStatus", "ringing"),
    ("CallbackSource", "call-progress-events"),
    ("Direction", "outbound-api"),
    ("From", "+15005550006"),
    ("SequenceNumber", "1"),
    ("Timestamp", "Tue, 31 Aug 2010 20:36:28 +0000"),
    ("To", "+14155551212"),
]
G_URL = "https://example.com/twilio/status?tenant=acme"
G_SIG = "YABU54c61PoWDnFRTViy1tNElZA="


def test_vector_g_status_callback() -> None:
    g = SignatureChecker("your_auth_token")
    assert g.valid(G_URL, mp(G_PARAMS), G_SIG)
    # the same with a plain HMAC-SHA1 over URL + sorted name/value pairs (byte order:
    # CallSid < CallStatus < CallbackSource)
    s = G_URL + "".join(k + v for k, v in sorted(G_PARAMS))
    raw = hmac.new(b"your_auth_token", s.encode(), hashlib.sha1).digest()
    assert base64.b64encode(raw).decode() == G_SIG
    # a fragment (connection overrides) is not part of the signed URL
    assert not g.valid(G_URL + "#rc=2&rp=5xx", mp(G_PARAMS), G_SIG)


def test_tampered_param_fails() -> None:
    pairs = [*PARAMS_A[:-1], ("To", "+18005551213")]
    assert not checker.valid(URL, mp(pairs), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not checker.valid(URL, mp(PARAMS_A), "")
    assert not checker.valid(URL, mp(PARAMS_A), None)


def test_non_ascii_and_empty_values_sign_and_validate() -> None:
    pairs = [("CalledCity", "São Paulo"), ("ToZip", ""), ("CallerName", "Zoë 李")]
    sig = checker.sign(URL, mp(pairs))
    assert checker.valid(URL, mp(pairs), sig)
    assert not checker.valid(URL, mp([("CalledCity", "Sao Paulo"), *pairs[1:]]), sig)


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        (
            "https://hooks.example.com",
            "/twilio/status",
            "",
            "https://hooks.example.com/twilio/status",
        ),
        (
            "https://hooks.example.com/",
            "/twilio/status",
            "a=1",
            "https://hooks.example.com/twilio/status?a=1",
        ),
        # a path-stripping ingress: Twilio called /cs/twilio/status, the app sees /twilio/status
        (
            "https://example.com/cs",
            "/twilio/status",
            "t=acme",
            "https://example.com/cs/twilio/status?t=acme",
        ),
        (
            "https://example.com:8443",
            "/twilio/status",
            "q=%27x%27",
            "https://example.com:8443/twilio/status?q=%27x%27",
        ),
    ],
)
def test_signed_url(base: str, path: str, query: str, expected: str) -> None:
    assert signed_url(base, path, query) == expected


def test_empty_token_refused() -> None:
    with pytest.raises(ValueError):
        SignatureChecker("")


@pytest.mark.parametrize(
    "base",
    [
        "https://mycompany.com",
        "https://mycompany.com:443",
        "http://mycompany.com",
        "http://mycompany.com:80",
        "https://mycompany.com:1234",
        "http://mycompany.com:1234/prefix",
        "https://example.com/cs/",
    ],
)
@pytest.mark.parametrize("signed_as", ["with-port", "without-port", "as-is", "other-port"])
def test_fast_path_agrees_with_request_validator(base: str, signed_as: str) -> None:
    from urllib.parse import urlparse

    from twilio.request_validator import RequestValidator, add_port, remove_port

    path = "/myapp.php?foo=1&bar=2"
    url = base.rstrip("/") + path
    parsed = urlparse(url)
    sign_url = {
        "with-port": add_port(parsed),
        "without-port": remove_port(parsed),
        "as-is": url,
        "other-port": url.replace("mycompany.com", "mycompany.com:8080", 1),
    }[signed_as]
    sig = checker.sign(sign_url, mp(PARAMS_A))
    expected = RequestValidator(TOKEN).validate(url, mp(PARAMS_A), sig)
    assert SignatureChecker(TOKEN, base).valid_path(path, mp(PARAMS_A), sig) == expected
    assert checker.valid(url, mp(PARAMS_A), sig) == expected
