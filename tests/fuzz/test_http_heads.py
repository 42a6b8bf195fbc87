"""Hostile request heads over the wire, against the real processes (``callstream broker``,
``emulator``, ``ingest``, ``projector``, ``dialer`` on loopback): the fuzz suite's "no 5xx on
any route" for what only a real server sees (the in-process fuzz goes through ASGI, past
the HTTP parser and its limits). Every request gets an answer, never a 5xx, never a
traceback; every 4xx is a JSON error; every service still serves afterwards; and nothing
unsigned reaches the callback topic."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstream import topics
from callstream.settings import Settings
from tests.fuzz.support import CASES, FUZZ_MORE, METHODS
from tests.helpers import read_topic
from tests.security.rawhttp import Answer, exchange
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.slow

ACCOUNT = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef"
PATHS = {
    "ingest": [
        "/twilio/status",
        "/twilio/voice",
        "/dial",
        "/twilio/events",
        "/livez",
        "/readyz",
        "/metrics",
    ],
    "projector": ["/calls", "/calls/CA" + "0" * 32, "/stats", "/livez", "/readyz", "/metrics"],
    "dialer": ["/livez", "/readyz", "/metrics"],
    "emulator": [ACCOUNT + "/Calls.json", "/emulator/requests", "/livez", "/metrics"],
}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with Pipeline(tmp_path_factory.mktemp("heads")) as p:
        p.start("broker", "emulator", "projector", "ingest", "dialer")
        yield p


def _no_crlf(b: bytes) -> bytes:
    return b.replace(b"\r", b"").replace(b"\n", b"") or b"x"


names = st.one_of(
    st.sampled_from(
        [
            b"x-twilio-signature",
            b"i-twilio-idempotency-token",
            b"authorization",
            b"host",
            b"content-type",
            b"x-forwarded-host",
            b"expect",
            b"upgrade",
            b"connection",
            b"cookie",
        ]
    ),
    st.binary(min_size=1, max_size=12).map(_no_crlf),  # bytes a name may not hold
)
values = st.one_of(
    st.binary(max_size=40).map(_no_crlf),
    st.sampled_from([b"100-continue", b"websocket", b"Upgrade", b"close", b"keep-alive"]),
    st.sampled_from([1_000, 17_000, 100_000, 1_100_000]).map(lambda n: b"t" * n),
)
header_sets = st.one_of(
    st.lists(st.tuples(names, values), max_size=8),
    st.integers(60, 300).map(lambda n: [(b"x-%d" % i, b"1") for i in range(n)]),
    st.just([(b"x-twilio-signature", b"AAAA"), (b"x-twilio-signature", b"BBBB")]),
)
targets = st.one_of(
    st.just(""),
    st.sampled_from(["?a=1", "?limit=%C2%B2", "?limit=" + "9" * 5000, "/", "//", "/%2e%2e"]),
    st.binary(max_size=30).map(lambda b: _no_crlf(b).replace(b" ", b"").decode("latin-1")),
    st.sampled_from([9_000, 70_000]).map(lambda n: "?q=" + "a" * n),
)
methods = st.one_of(st.sampled_from(METHODS), st.sampled_from(["get", "X", "GET /", "\x01"]))
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9", b"", b"HTTP/1.1x"])
bodies = st.one_of(st.none(), st.binary(max_size=200), st.just(b"a=" + b"b" * 70_000))


@st.composite
def heads(draw: st.DrawFn) -> tuple[str, str, bytes]:
    service = draw(st.sampled_from(sorted(PATHS)))
    path = draw(st.sampled_from(PATHS[service])) + draw(targets)
    method = draw(methods)
    fields = draw(header_sets)
    body = draw(bodies)
    raw = [method.encode("latin-1") + b" " + path.encode("latin-1") + b" " + draw(versions)]
    raw += [n + b": " + v for n, v in fields]
    if body is not None:  # always a complete body: a short one is the slow-body test's case
        raw.append(b"content-length: %d" % len(body))
    raw.append(b"connection: close")
    wire = b"\r\n".join(raw) + b"\r\n\r\n" + (body or b"")
    return service, path, wire


def _check(service: str, path: str, a: Answer) -> None:
    where = f"{service} {path[:80]!r} -> {a.status} {a.body[:200]!r}"
    assert a.status is not None, where  # always an answer, never a silent close
    assert a.status < 500 or (path.startswith("/readyz") and a.status == 503), where
    assert b"Traceback" not in a.body and b'File "/' not in a.body, where
    if 400 <= a.status < 500 and a.body:
        body = a.json()
        shape = ("code", "message") if path.startswith("/2010-04-01") else ("error", "message")
        assert all(k in body for k in shape) or all(k in body for k in ("error", "message")), where
    if path.startswith("/twilio/"):
        assert a.status != 204, where  # nothing here is signed


def test_fuzz_request_heads_on_every_real_service(pipe: Pipeline) -> None:
    @FUZZ_MORE
    @given(case=heads())
    def hostile(case: tuple[str, str, bytes]) -> None:
        service, path, wire = case
        CASES[(service, "raw request heads (real server)")] += 1
        port = pipe[service].port
        assert port is not None
        _check(service, path, exchange(port, wire, timeout_s=30))

    hostile()
    for name in PATHS:
        assert httpx.get(pipe[name].url + "/livez", timeout=10).status_code == 200
    s = Settings.from_env(env={}, kafka_bootstrap_servers=pipe.bootstrap, kafka_profile="tansu")
    assert read_topic(s, s.topic(topics.CALL_STATUS), idle=1.0) == []
