"""``X-Twilio-Signature``: one test per known bypass attempt, against the real ingest app
(in process, real broker). Every refused attempt must also leave the callback topic empty.

The public URL is ``https://hooks.example.com``; the signature is always computed by the
SDK (as Twilio would) over the URL an attacker would like the app to believe in.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import twilio.request_validator

import ingest.signature
from callstream import topics
from callstream.settings import Settings
from ingest.bootstrap import create_app
from ingest.signature import SignatureChecker
from tests.fuzz.support import InProcess
from tests.helpers import AUTH_TOKEN, read_topic
from tests.ingest.support import FORM, PUBLIC, call_sid, callback, form, sign

PATH = "/twilio/status"


@pytest.fixture
def ingest_app(settings: Settings) -> Iterator[tuple[InProcess, Settings]]:
    with InProcess(create_app(settings, "127.0.0.1")) as app:
        yield app, settings


def topic_records(s: Settings) -> list[Any]:
    return read_topic(s, s.topic(topics.CALL_STATUS), idle=0.7)


def post(
    app: InProcess,
    target: str,
    body: bytes,
    signature: str,
    ctype: str = FORM,
    headers: dict[str, str] | None = None,
) -> Any:
    h = {"content-type": ctype, "x-twilio-signature": signature, **(headers or {})}
    return app.request("POST", target, h, body)


def refused(r: Any) -> None:
    assert r.status_code != 204, r.text
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


def test_baseline_a_correct_signature_is_accepted(
    ingest_app: tuple[InProcess, Settings],
) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    r = post(app, PATH + "?tenant=acme", form(pairs), sign(PUBLIC + PATH + "?tenant=acme", pairs))
    assert r.status_code == 204, r.text
    assert len(topic_records(s)) == 1


def test_port_non_default_is_refused_default_is_the_documented_variant(
    ingest_app: tuple[InProcess, Settings],
) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    for url in ("https://hooks.example.com:8443" + PATH, "https://hooks.example.com:80" + PATH):
        refused(post(app, PATH, form(pairs), sign(url, pairs)))
    assert topic_records(s) == []
    # the contract: with and without the scheme's default port are both accepted
    r = post(app, PATH, form(pairs), sign("https://hooks.example.com:443" + PATH, pairs))
    assert r.status_code == 204


def test_scheme_http_signature_is_refused(ingest_app: tuple[InProcess, Settings]) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    for url in ("http://hooks.example.com" + PATH, "http://hooks.example.com:80" + PATH):
        refused(post(app, PATH, form(pairs), sign(url, pairs)))
        refused(
            post(app, PATH, form(pairs), sign(url, pairs), headers={"x-forwarded-proto": "http"})
        )
    assert topic_records(s) == []


def test_trailing_slash_is_refused(ingest_app: tuple[InProcess, Settings]) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    refused(post(app, PATH, form(pairs), sign(PUBLIC + PATH + "/", pairs)))
    # signed for the unslashed URL but sent to the slashed path: refused, and no redirect
    r = post(app, PATH + "/", form(pairs), sign(PUBLIC + PATH, pairs))
    refused(r)
    assert "location" not in r.headers
    assert topic_records(s) == []


def test_a_callback_url_with_a_trailing_slash_validates_only_as_itself(
    ingest_app: tuple[InProcess, Settings],
) -> None:
    """A status callback configured as '.../twilio/status/' is answered (no Host-derived
    redirect); its signature covers the slashed URL, so it validates only there."""
    app, s = ingest_app
    pairs = callback(call_sid())
    r = post(app, PATH + "/", form(pairs), sign(PUBLIC + PATH + "/", pairs))
    assert r.status_code == 204, r.text
    (rec,) = topic_records(s)
    assert json.loads(rec.value)["url"] == PUBLIC + PATH + "/"


def test_double_slashes_are_refused(ingest_app: tuple[InProcess, Settings]) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    refused(post(app, PATH, form(pairs), sign(PUBLIC + "//twilio/status", pairs)))
    refused(post(app, PATH, form(pairs), sign(PUBLIC + "/twilio//status", pairs)))
    for sent in ("//twilio/status", "/twilio//status"):
        r = post(app, sent, form(pairs), sign(PUBLIC + PATH, pairs))
        assert r.status_code != 204 and r.status_code < 500
        r = post(app, sent, form(pairs), sign(PUBLIC + sent, pairs))
        assert r.status_code != 204 and r.status_code < 500
    assert topic_records(s) == []


def test_query_reordering_is_refused(ingest_app: tuple[InProcess, Settings]) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    signed = sign(PUBLIC + PATH + "?a=1&b=2", pairs)
    refused(post(app, PATH + "?b=2&a=1", form(pairs), signed))
    refused(post(app, PATH + "?a=1", form(pairs), signed))
    refused(post(app, PATH + "?a=1&b=2&c=3", form(pairs), signed))
    refused(post(app, PATH + "?a=1&b=2&a=1", form(pairs), signed))
    # query-string encoding is part of the URL: %27 is not '
    refused(post(app, PATH + "?x=%27q%27", form(pairs), sign(PUBLIC + PATH + "?x='q'", pairs)))
    assert topic_records(s) == []


def test_moving_parameters_between_query_and_body_is_refused(
    ingest_app: tuple[InProcess, Settings],
) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    query = form(pairs).decode()
    # a GET's signature (over the URL with the parameters) reused for a POST of the same
    # parameters in the body, and the reverse
    get_sig = sign(PUBLIC + PATH + "?" + query, None)
    refused(post(app, PATH, form(pairs), get_sig))
    post_sig = sign(PUBLIC + PATH, pairs)
    r = app.request("GET", PATH + "?" + query, {"x-twilio-signature": post_sig})
    refused(r)
    assert topic_records(s) == []


def test_repeated_keys_cannot_change_a_value(ingest_app: tuple[InProcess, Settings]) -> None:
    app, s = ingest_app
    pairs = callback(call_sid(), "ringing")
    sig = sign(PUBLIC + PATH, pairs)
    for extra in (
        b"&CallStatus=completed",
        b"&Digits=1",
        b"&CallSid=CA" + b"0" * 32,
        b"&CallStatus=",
        b"&callstatus=completed",
    ):
        refused(post(app, PATH, form(pairs) + extra, sig))
    # a value split across two copies of its name is another string to sign
    split = [p for p in pairs if p[0] != "CallStatus"] + [
        ("CallStatus", "ring"),
        ("CallStatus", "ing"),
    ]
    refused(post(app, PATH, form(split), sig))
    assert topic_records(s) == []


def test_repeated_identical_pair_is_twilios_quirk_and_kept_verbatim(
    ingest_app: tuple[InProcess, Settings],
) -> None:
    """Twilio's algorithm (every SDK) signs the *set* of values of a name, so an exact
    duplicate of a signed pair validates. Nothing changes meaning: the envelope keeps what
    was received, and the projector reads the first value of each name."""
    app, s = ingest_app
    pairs = callback(call_sid(), "ringing")
    dup = [*pairs, ("CallStatus", "ringing")]
    r = post(app, PATH, form(dup), sign(PUBLIC + PATH, pairs))
    assert r.status_code == 204
    (rec,) = topic_records(s)
    assert json.loads(rec.value)["params"] == [list(p) for p in dup]


def test_body_sha256_query_does_not_validate_a_form_with_empty_params(
    ingest_app: tuple[InProcess, Settings],
) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    body = form(pairs)
    digest = hashlib.sha256(body).hexdigest()
    url = PUBLIC + PATH + "?bodySHA256=" + digest
    empty_params_sig = sign(url, None)  # what a JSON webhook's signature looks like
    refused(post(app, PATH + "?bodySHA256=" + digest, body, empty_params_sig))
    # as JSON, with a correct bodySHA256 signature: not a form, refused before anything else
    raw = json.dumps(dict(pairs)).encode()
    jurl = PUBLIC + PATH + "?bodySHA256=" + hashlib.sha256(raw).hexdigest()
    r = post(
        app,
        PATH + "?bodySHA256=" + hashlib.sha256(raw).hexdigest(),
        raw,
        sign(jurl, None),
        ctype="application/json",
    )
    assert r.status_code == 415
    # the SDK itself takes the bodySHA256 branch only for a str body; ours never passes one
    checker = SignatureChecker(AUTH_TOKEN, PUBLIC)
    assert not checker.valid_path(
        PATH + "?bodySHA256=" + digest,
        ingest.signature.MultiParams.from_pairs(pairs),
        empty_params_sig,
    )
    assert topic_records(s) == []


def test_fragment_in_the_signed_url_is_refused(ingest_app: tuple[InProcess, Settings]) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    refused(post(app, PATH, form(pairs), sign(PUBLIC + PATH + "#rc=2&rp=5xx", pairs)))
    refused(post(app, PATH + "?a=1", form(pairs), sign(PUBLIC + PATH + "?a=1#x", pairs)))
    assert topic_records(s) == []


def test_host_header_spoofing_is_ignored(ingest_app: tuple[InProcess, Settings]) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    for host in ("evil.example.com", "evil.example.com:443", "hooks.example.com.evil.com"):
        sig = sign(f"https://{host}{PATH}", pairs)
        refused(post(app, PATH, form(pairs), sig, headers={"host": host}))
    assert topic_records(s) == []
    # the URL checked is the configured public URL whatever Host says
    r = post(app, PATH, form(pairs), sign(PUBLIC + PATH, pairs), headers={"host": "evil.com"})
    assert r.status_code == 204
    (rec,) = topic_records(s)
    assert json.loads(rec.value)["url"] == PUBLIC + PATH


def test_x_forwarded_headers_are_ignored(ingest_app: tuple[InProcess, Settings]) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    spoof = {
        "x-forwarded-host": "evil.example.com",
        "x-forwarded-proto": "http",
        "x-forwarded-port": "8080",
        "x-forwarded-prefix": "/cs",
        "forwarded": "proto=http;host=evil.example.com",
        "x-original-url": "/other",
    }
    for url in (
        "http://evil.example.com:8080" + PATH,
        "http://evil.example.com" + PATH,
        "https://evil.example.com" + PATH,
        PUBLIC + "/cs" + PATH,
        PUBLIC + "/other",
    ):
        refused(post(app, PATH, form(pairs), sign(url, pairs), headers=spoof))
    assert topic_records(s) == []


def test_wrong_token_case_and_encoding_tricks_are_refused(
    ingest_app: tuple[InProcess, Settings],
) -> None:
    app, s = ingest_app
    pairs = callback(call_sid())
    good = sign(PUBLIC + PATH, pairs)
    for sig in (
        sign(PUBLIC + PATH, pairs, token=AUTH_TOKEN.upper()),
        sign(PUBLIC + PATH, pairs, token="other"),
        good.lower(),
        good.upper(),
        good.rstrip("="),
        good + " ",
        " " + good,
        good + "\x00",
        "",
        "x",
    ):
        refused(post(app, PATH, form(pairs), sig))
    r = app.request("POST", PATH, {"content-type": FORM}, form(pairs))
    refused(r)
    assert r.json()["error"] == "missing-signature"
    assert topic_records(s) == []


def test_voice_route_is_signed_too(ingest_app: tuple[InProcess, Settings]) -> None:
    app, _ = ingest_app
    pairs = callback(call_sid())
    for sig in ("", "bad", sign("http://hooks.example.com/twilio/voice", pairs)):
        r = post(app, "/twilio/voice", form(pairs), sig)
        assert r.status_code == 403 and "<Response" not in r.text
    r = post(app, "/twilio/voice", form(pairs), sign(PUBLIC + "/twilio/voice", pairs))
    assert r.status_code == 200 and "<Response" in r.text


def test_signature_comparison_is_constant_time(
    ingest_app: tuple[InProcess, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behaviour: the check goes through hmac.compare_digest (or the SDK's own constant-time
    ``compare``) with the signature as received."""
    app, _ = ingest_app
    seen: list[tuple[Any, Any]] = []
    real_digest, real_compare = hmac.compare_digest, twilio.request_validator.compare

    def spy_digest(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real_digest(a, b)

    def spy_compare(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return bool(real_compare(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy_digest)
    monkeypatch.setattr(twilio.request_validator, "compare", spy_compare)
    pairs = callback(call_sid())
    forged = "A" * 27 + "="
    refused(post(app, PATH, form(pairs), forged))
    assert any(forged in (_s(a), _s(b)) for a, b in seen), seen
    seen.clear()
    assert post(app, PATH, form(pairs), sign(PUBLIC + PATH, pairs)).status_code == 204
    assert seen


def _s(v: Any) -> str:
    return v.decode("latin-1") if isinstance(v, bytes) else str(v)


def test_signature_source_has_no_plain_equality() -> None:
    """In addition to the behaviour test: the module compares signatures only through
    hmac.compare_digest or RequestValidator.validate."""
    src = inspect.getsource(ingest.signature)
    assert "compare_digest" in src or "RequestValidator" in src
    code = [ln.split("#")[0] for ln in src.splitlines()]
    for ln in code:
        if "sig" in ln.lower() and ("==" in ln or "!=" in ln):
            raise AssertionError(f"plain comparison of a signature: {ln.strip()}")
    twilio_src = Path(inspect.getfile(twilio.request_validator)).read_text()
    assert "def compare(" in twilio_src
