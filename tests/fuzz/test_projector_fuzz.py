"""Fuzz the projector's query API and try SQL injection through every query parameter and
the path: no 5xx, JSON errors, no traceback, and nothing reaches SQL as code (the schema,
the rows and the file stay exactly as they were)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstream.web import BearerGuard
from projector import queries
from projector.api import create_app
from projector.progress import Progress
from projector.store import Store
from tests.fuzz.support import (
    FUZZ,
    FUZZ_MORE,
    InProcess,
    Req,
    check_json_error,
    check_response,
    nasty_text,
    requests,
    send,
)
from tests.projector.support import callback, sid

# Background threads of the apps under test (Kafka clients, the emulator's engine) use the
# random module while Hypothesis draws; that is not randomness inside our strategies.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


TOPIC = "t.twilio.call-status"
TOKEN = "projector-fuzz-token-" + "7" * 20
AUTH = {"authorization": f"Bearer {TOKEN}"}
ROUTES = {
    "GET /calls": ("/calls", ["GET"]),
    "GET /calls/{sid}": ("/calls/{sid}", ["GET"]),
    "GET /stats": ("/stats", ["GET"]),
    "GET /livez": ("/livez", ["GET"]),
    "GET /readyz": ("/readyz", ["GET"]),
    "GET /metrics": ("/metrics", ["GET"]),
}
PARAMS = ("status", "direction", "parent", "limit", "cursor")

INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "x'; DROP TABLE calls; --",
    "'; DELETE FROM calls; --",
    "1; DROP TABLE call_events",
    "') UNION SELECT name, sql, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 FROM sqlite_master --",
    "1 UNION SELECT * FROM calls",
    "'; ATTACH DATABASE '/tmp/pwned.db' AS p; CREATE TABLE p.t(a); --",
    "'; CREATE TABLE pwned(a); --",
    "completed' --",
    "completed'/*",
    "%' OR call_sid LIKE '%",
    "CA%",
    "*",
    "1 OR 1",
    "-1",
    "0x10",
    "1e3",
    "9" * 40,
    "\x00' OR 1=1",
    "' || (SELECT sql FROM sqlite_master) || '",
    "'; PRAGMA writable_schema=1; --",
    "randomblob(1000000000)",
    "' AND sleep(5) --",
]


def _snapshot(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {
            "schema": sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()),
            "rows": {
                t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("calls", "call_events", "rejected_events", "projector_offsets")
            },
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
        }
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "p.db"
    st_ = Store(path, TOPIC)
    recs = [
        callback(sid(1), 0, "completed", 30, Direction="inbound", CallDuration="20"),
        callback(sid(2), 0, "initiated", 1, Direction="outbound-dial", ParentCallSid=sid(1)),
        callback(sid(2), 1, "ringing", 2, Direction="outbound-dial", ParentCallSid=sid(1)),
        callback(sid(3), 1, "ringing", 3),
    ] + [callback(sid(100 + i), 0, "completed", i, CallDuration=str(i)) for i in range(12)]
    st_.apply([(0, i, v) for i, v in enumerate(recs)])
    st_.close()
    return path


@pytest.fixture
def api(db: Path) -> Iterator[InProcess]:
    n = 16
    prog = Progress(partitions=[0], stored={0: n}, high={0: n})
    with InProcess(create_app(db, BearerGuard(TOKEN, "127.0.0.1"), prog)) as app:
        yield app


auth_headers = st.one_of(
    st.just([(b"authorization", f"Bearer {TOKEN}".encode())]),
    st.just([(b"authorization", f"Bearer {TOKEN}".encode())]),
    st.just([]),
    st.sampled_from([f"Bearer {TOKEN[:-1]}", "Bearer ' OR 1=1 --", f"Basic {TOKEN}"]).map(
        lambda v: [(b"authorization", v.encode())]
    ),
)
# numbers that are not ASCII digits, or too long (issue 17: '²' and 5,000 digits were 500s)
NUMBERS = [
    *["²", "¹²", "٣", "३", "①", "Ⅻ", "1²", "⁰", "\U0001d7d7"],  # the last: a bold 9
    *["5" * 5000, "0" * 12 + "1", "+5", "-0", " 5", "5 ", "1_000"],
]
query_values = st.one_of(nasty_text, st.sampled_from(INJECTIONS), st.sampled_from(NUMBERS))


@st.composite
def api_queries(draw: st.DrawFn) -> str:
    """Query strings over the real parameter names (repeated names, unknown ones too)."""
    names = st.one_of(st.sampled_from(PARAMS), nasty_text)
    pairs = draw(st.lists(st.tuples(names, query_values), max_size=5))
    return "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in pairs)


def test_fuzz_projector_api(api: InProcess, db: Path) -> None:
    before = _snapshot(db)

    @FUZZ_MORE
    @given(req=requests("projector", ROUTES, segment=query_values, extra_headers=auth_headers))
    def random_requests(req: Req) -> None:
        r = send(api, req)
        check_response(r, req)
        if req.path.startswith(("/calls", "/stats")):
            check_json_error(r, req)

    @FUZZ
    @given(query=api_queries(), auth=auth_headers)
    def parameters(query: str, auth: list[tuple[bytes, bytes]]) -> None:
        req = Req("projector GET /calls (params)", "GET", "/calls", query, auth)
        r = send(api, req)
        check_response(r, req)
        check_json_error(r, req)
        assert r.status_code in (200, 400, 401), (query, r.status_code, r.text)
        if r.status_code == 200:
            body = r.json()
            assert set(body) == {"calls", "next_cursor"}

    random_requests()
    parameters()
    assert api.request("GET", "/livez").status_code == 200
    assert api.request("GET", "/stats", AUTH).json()["calls"] == 15
    assert _snapshot(db) == before


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_reaches_no_sql(api: InProcess, db: Path, payload: str) -> None:
    before = _snapshot(db)
    all_sids = [c[0] for c in before["rows"]["calls"]]
    q = quote(payload, safe="")
    for name in PARAMS:
        r = api.request("GET", f"/calls?{name}={q}", AUTH)
        assert r.status_code in (200, 400), (name, r.status_code, r.text)
        if r.status_code == 400:
            assert set(r.json()) >= {"error", "message"}
        else:
            # only 'parent' and an empty-looking value can pass: then they filter as data
            calls = r.json()["calls"]
            if name == "parent":
                assert calls == [], (name, payload)
            else:
                assert name == "limit" and payload.isdigit()
        assert "Traceback" not in r.text
    # a cursor the API would accept (its tag is not secret) still carries the text as data
    for filt in ((None, None, None), ("completed", None, None)):
        cursor = queries.make_cursor(filt, payload)
        status = f"status={filt[0]}&" if filt[0] else ""
        r = api.request("GET", f"/calls?{status}cursor={cursor}", AUTH)
        assert r.status_code == 200, r.text
        want = [s for s in all_sids if s > payload]
        got = [c["call_sid"] for c in r.json()["calls"]]
        assert set(got) <= set(want) and (filt[0] or got == want)
    r = api.request("GET", f"/calls/{q}", AUTH)
    assert r.status_code == 404, r.text
    # a "/" (sent as %2F) makes it another path, which no route matches
    assert r.json()["error"] == ("not-found" if "/" in payload else "unknown-call")
    assert _snapshot(db) == before
    assert not Path("/tmp/pwned.db").exists()


@pytest.mark.parametrize("limit", NUMBERS)
def test_limit_is_ascii_digits_of_bounded_length(api: InProcess, limit: str) -> None:
    r = api.request("GET", "/calls?limit=" + quote(limit, safe=""), AUTH)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad-limit"


@pytest.mark.parametrize(
    "raw",
    [b"[" * 5000, b'{"a":' * 3000, b"\xff\xfe", b"null", b'{"a": 1}', b'{"a": "x", "t": []}'],
    ids=["nested-list", "nested-object", "not-utf8", "null", "no-tag", "bad-tag"],
)
def test_hostile_cursor_is_a_400(api: InProcess, raw: bytes) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    r = api.request("GET", f"/calls?cursor={cursor}", AUTH)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad-cursor"
