"""Shared pieces of the HTTP fuzz tests: an in-process client for a real app (its lifespan
running on an event loop of its own thread), Hypothesis strategies for hostile requests,
the response checks every route must pass, and the per-route case counter the summary prints.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Coroutine, Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import httpx
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st

T = TypeVar("T")

# (service, route) -> number of requests sent; printed by tests/fuzz/conftest.py
CASES: Counter[tuple[str, str]] = Counter()

FUZZ = hsettings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)
FUZZ_MORE = hsettings(FUZZ, max_examples=500)


class InProcess:
    """A real Starlette app with its lifespan running on an event loop in a thread, and an
    httpx client on that loop (ASGITransport: app exceptions surface in the test)."""

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        self.app = app
        self.base_url = base_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stack = AsyncExitStack()
        self.client: httpx.AsyncClient | None = None
        self.transport = httpx.ASGITransport(app=app)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        await self.stack.enter_async_context(self.app.router.lifespan_context(self.app))
        self.client = await self.stack.enter_async_context(
            httpx.AsyncClient(transport=self.transport, base_url=self.base_url, timeout=60)
        )

    def __enter__(self) -> InProcess:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.stack.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()

    def request(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[bytes, bytes]] | dict[str, str] = (),
        content: bytes | None = None,
    ) -> httpx.Response:
        assert self.client is not None
        req = self.client.build_request(method, url, headers=_items(headers), content=content)
        return self.run(self._send(req))

    async def _send(self, req: httpx.Request) -> httpx.Response:
        # straight to the transport: the client would parse a redirect's Location itself
        # (and choke on one built from a hostile Host header) before returning the answer
        resp = await self.transport.handle_async_request(req)
        await resp.aread()
        return resp


def _items(headers: Sequence[tuple[bytes, bytes]] | dict[str, str]) -> list[tuple[Any, Any]]:
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


# -- strategies ----------------------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"]
methods = st.one_of(
    st.sampled_from(METHODS),
    st.sampled_from(["get", "post", "PROPFIND", "X", "GETT", "M-SEARCH"]),
)

# text without lone surrogates (never on the wire as UTF-8)
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
nasty_text = st.one_of(
    text,
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "%",
            "%%",
            "%zz",
            "%0",
            "%00",
            "%ff",
            "%c3%28",
            "%u0041",
            "+",
            "%2B",
            "%25%32%35",
            "&",
            "=",
            "==",
            "&&",
            "a=b=c",
            "\u202e",
            "\ufeff",
            "☎ 日本",
            "' OR 1=1 --",
            "'; DROP TABLE calls; --",
            "<script>",
            "../../etc/passwd",
            "A" * 5000,
            "null",
            "[]",
            "{}",
            "\\",
            "\r\n",
            "\t",
        ]
    ),
)


def pct(s: str) -> str:
    """Percent-encode a path segment (so any text reaches the app as a decoded segment)."""
    return quote(s, safe="")


# Raw query strings: well formed pairs (repeated keys kept) and raw edge cases.
pairs = st.lists(st.tuples(nasty_text, nasty_text), max_size=8)
queries = st.one_of(
    st.just(""),
    pairs.map(lambda ps: "&".join(quote_plus(k) + "=" + quote_plus(v) for k, v in ps)),
    st.sampled_from(
        [
            "a",
            "a=",
            "=b",
            "&",
            "&&&",
            "a=1&a=2&a=1",
            "%",
            "%zz=1",
            "a=%ff",
            "a=%00",
            "a=%c3%28",
            "a=%",
            "a+b=c+d",
            "a=%2B%20",
            "bodySHA256=" + "0" * 64,
            ";a=1",
            "a=1;b=2",
            "?a=1",
            "a=" + "x" * 10000,
        ]
    ),
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=40
    ),
)

huge_sizes = st.sampled_from([64 * 1024, 64 * 1024 + 1, 200_000, 1_100_000])
nested_depths = st.sampled_from([50, 999, 1000, 5000, 30000])


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=12,
)

_raw_bodies = st.one_of(
    st.none(),
    st.binary(max_size=512),
    st.builds(lambda n, b: bytes([b]) * n, huge_sizes, st.integers(0, 255)),
    st.builds(lambda n: b"a=" + b"b" * n, huge_sizes),
    st.builds(_nested, nested_depths, st.sampled_from(["list", "dict"])),
    json_values.map(lambda v: json.dumps(v).encode()),
    pairs.map(lambda ps: "&".join(quote_plus(k) + "=" + quote_plus(v) for k, v in ps).encode()),
    st.sampled_from(
        [
            b"\xff\xfe\xfd",
            b"a=\xff",
            b"a=%ff",
            b"%c3%28=1",
            b"a=\x00",
            b"\x00" * 100,
            b"a=%00",
            b"CallSid=x&CallSid=y",
            b"a=1&a=1&a=2",
            b"%",
            b"a=%",
            b"%zz=%zz",
            b"=",
            b"&&&",
            b'{"to": "+14155550100"',
            b'{"a": NaN}',
            b"\xef\xbb\xbf{}",
            b'"\\ud800"',
            b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n",
        ]
    ),
)
bodies = _raw_bodies.map(lambda b: None if b is None else Blob(b))

CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED",
    "application/json",
    "application/json; charset=latin-1",
    "text/plain",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "application/octet-stream",
    "",
    ";",
    "application/x-www-form-urlencoded;;;",
]
content_types = st.one_of(
    st.none(),
    st.sampled_from(CONTENT_TYPES),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40),
)

header_names = st.one_of(
    st.sampled_from(
        [
            "x-twilio-signature",
            "authorization",
            "host",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwarded-port",
            "x-forwarded-for",
            "forwarded",
            "accept",
            "accept-encoding",
            "i-twilio-idempotency-token",
            "cookie",
            "origin",
            "x-real-ip",
            "transfer-encoding",
        ]
    ),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-0123456789"), min_size=1, max_size=20),
)
header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60),
    st.sampled_from(
        [
            "Bearer",
            "Bearer ",
            "Basic",
            "Basic !!!",
            "Basic " + "A" * 5000,
            "evil.example.com",
            "https",
            "http",
            "443",
            "1.2.3.4",
            "chunked",
        ]
    ),
)
_plain_headers = st.lists(st.tuples(header_names, header_values), max_size=6).map(
    lambda hs: [(k.encode("latin-1"), v.encode("latin-1")) for k, v in hs]
)
# Hostile header sets: huge values (the 1.1 MB idempotency token of issue 17), many fields,
# a duplicated X-Twilio-Signature, raw bytes that are not ASCII. Through ASGI these reach the
# app unfiltered; over the wire the server's limits answer first (tests/fuzz/test_http_heads.py).
_huge = st.sampled_from([8_000, 20_000, 1_100_000]).map(lambda n: b"t" * n)
_field_bytes = st.binary(min_size=1, max_size=40).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"") or b"x"
)
hostile_headers = st.one_of(
    st.tuples(
        st.sampled_from(
            [b"i-twilio-idempotency-token", b"x-pad", b"authorization", b"x-twilio-signature"]
        ),
        _huge,
    ).map(lambda h: [h]),
    st.integers(60, 150).map(lambda n: [(b"x-h%d" % i, b"v") for i in range(n)]),
    st.just([(b"x-twilio-signature", b"AAAA"), (b"x-twilio-signature", b"BBBB")]),
    st.lists(
        st.tuples(st.sampled_from([b"x-note", b"i-twilio-idempotency-token"]), _field_bytes),
        min_size=1,
        max_size=3,
    ),
)
headers = st.one_of(_plain_headers, _plain_headers, _plain_headers, hostile_headers)


class Req:
    """One request; its repr stays short (Hypothesis prints it, and bodies can be 1 MB)."""

    def __init__(
        self,
        route: str,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes | None = None,
    ) -> None:
        self.route = route  # the route this case was aimed at, for the count
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers or []
        self.body = body

    @property
    def url(self) -> str:
        return self.path + ("?" + self.query if self.query else "")

    def __repr__(self) -> str:
        body = None if self.body is None else Blob(self.body)
        return (
            f"Req({self.route!r}, {self.method!r}, url={_short(self.url)!r}, "
            f"headers={_short(repr(self.headers))}, body={body!r})"
        )


def _short(v: str, n: int = 300) -> str:
    return v if len(v) <= n else f"{v[:n]}...({len(v)} chars)"


class Blob(bytes):
    """A body whose repr is short."""

    def __repr__(self) -> str:
        if len(self) <= 200:
            return bytes.__repr__(self)
        return f"<{len(self)} bytes: {bytes(self[:60])!r}...>"


def path_variants(path: str) -> st.SearchStrategy[str]:
    """The route's path and the usual ways of bending it."""
    return st.one_of(
        st.just(path),
        st.just(path + "/"),
        st.just("/" + path),
        st.just(path.replace("/", "//")),
        st.just(path.upper()),
        st.just(path + "/%2e%2e/%2e%2e"),
        st.just(path.replace("/", "/%2F", 1)),
        nasty_text.map(lambda s: path + "/" + pct(s)),
        nasty_text.map(lambda s: "/" + pct(s)),
    )


def requests(
    service: str,
    routes: dict[str, tuple[str, list[str]]],
    segment: st.SearchStrategy[str] = nasty_text,
    extra_headers: st.SearchStrategy[list[tuple[bytes, bytes]]] | None = None,
) -> st.SearchStrategy[Req]:
    """Requests aimed at one of ``routes`` (name -> (path template, methods)); ``{x}`` in a
    template is filled with ``segment`` (percent-encoded)."""

    @st.composite
    def build(draw: st.DrawFn) -> Req:
        name = draw(st.sampled_from(sorted(routes)))
        template, allowed = routes[name]
        path = template
        while "{" in path:
            a, rest = path.split("{", 1)
            _, b = rest.split("}", 1)
            path = a + pct(draw(segment)) + b
        path = draw(st.one_of(st.just(path), st.just(path), path_variants(path)))
        method = draw(st.one_of(st.sampled_from(allowed), st.sampled_from(allowed), methods))
        hs = list(draw(headers))
        ctype = draw(content_types)
        if ctype is not None:
            hs.append((b"content-type", ctype.encode("latin-1")))
        if extra_headers is not None:
            hs.extend(draw(extra_headers))
        return Req(f"{service} {name}", method, path, draw(queries), hs, draw(bodies))

    return build()


# -- checks --------------------------------------------------------------------------------


def check_response(r: httpx.Response, req: Req, *, allow: tuple[int, ...] = ()) -> None:
    """What every answer to every request must satisfy."""
    where = f"{req.method} {req.url[:200]!r} -> {r.status_code} {r.text[:300]!r}"
    assert r.status_code < 500 or r.status_code in allow, where
    text = r.content.decode("utf-8", "replace")
    for marker in ("Traceback (most recent call last)", 'File "/'):
        assert marker not in text, where


def check_json_error(
    r: httpx.Response, req: Req, keys: tuple[str, ...] = ("error", "message")
) -> None:
    """A 4xx answered with a JSON error body holding ``keys``."""
    if req.method == "HEAD" or not 400 <= r.status_code < 500:
        return
    where = f"{req.method} {req.url[:200]!r} -> {r.status_code} {r.text[:300]!r}"
    assert r.headers.get("content-type", "").startswith("application/json"), where
    body = r.json()
    assert isinstance(body, dict) and all(k in body for k in keys), where


def send(app: InProcess, req: Req) -> httpx.Response:
    CASES[(req.route.split(" ", 1)[0], req.route.split(" ", 1)[1])] += 1
    return app.request(req.method, req.url, req.headers, req.body)


def summary_lines() -> list[str]:
    if not CASES:
        return []
    out = ["fuzz cases per route:"]
    for (service, route), n in sorted(CASES.items()):
        out.append(f"  {service:<10} {route:<45} {n:>6}")
    out.append(f"  {'total':<56} {sum(CASES.values()):>6}")
    return out
