"""Operator and dial endpoints: the bearer token (constant-time, refused when wrong, missing
or of another scheme), what happens with no token on a loopback and a non-loopback bind,
and the CLI's default binds (loopback for every service)."""

from __future__ import annotations

import dataclasses
import hmac
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import callstream.web
from callstream.cli import build_parser
from callstream.settings import Settings
from callstream.web import BearerGuard, is_loopback_host
from ingest.bootstrap import create_app as ingest_app
from projector.api import create_app as projector_app
from projector.progress import Progress
from projector.store import Store
from tests.fuzz.support import InProcess
from tests.projector.support import callback, sid

TOKEN = "s3cret-api-token-" + "5" * 24
GUARDED = ("/calls", f"/calls/{sid(1)}", "/stats")
OPEN = ("/livez", "/metrics")
DIAL = {"to": "+14155550100", "from": "+15005550006", "twiml": "<Response/>"}
WRONG = [
    None,
    "",
    "Bearer",
    "Bearer ",
    f"Basic {TOKEN}",
    f"Token {TOKEN}",
    TOKEN,
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN.upper()}",
    f"Bearer {TOKEN[:8]}",
    "Bearer ' OR 1=1 --",
    f"Bearer{TOKEN}",
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "p.db"
    st = Store(path, "t.twilio.call-status")
    st.apply([(0, 0, callback(sid(1), 0, "ringing", 1))])
    st.close()
    return path


def projector(db: Path, token: str | None, host: str) -> InProcess:
    return InProcess(
        projector_app(
            db, BearerGuard(token, host), Progress(partitions=[0], stored={0: 1}, high={0: 1})
        )
    )


def headers(auth: str | None) -> dict[str, str]:
    return {} if auth is None else {"authorization": auth}


@pytest.mark.parametrize("auth", WRONG, ids=lambda a: repr(a))
def test_projector_refuses_wrong_or_missing_token(db: Path, auth: str | None) -> None:
    with projector(db, TOKEN, "127.0.0.1") as app:
        for path in GUARDED:
            r = app.request("GET", path, headers(auth))
            assert r.status_code == 401, (path, auth, r.text)
            assert r.json()["error"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert TOKEN not in r.text
        for path in OPEN:
            assert app.request("GET", path, headers(auth)).status_code == 200


def test_projector_accepts_the_token(db: Path) -> None:
    with projector(db, TOKEN, "0.0.0.0") as app:
        for auth in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}"):
            for path in GUARDED:
                assert app.request("GET", path, headers(auth)).status_code == 200, (path, auth)


@pytest.fixture
def ingest(settings: Settings) -> Iterator[InProcess]:
    with InProcess(ingest_app(dataclasses.replace(settings, api_token=TOKEN), "127.0.0.1")) as a:
        yield a


def test_dial_refuses_wrong_or_missing_token(ingest: InProcess) -> None:
    import json

    body = json.dumps(DIAL).encode()
    for auth in WRONG:
        h = {"content-type": "application/json", **headers(auth)}
        r = ingest.request("POST", "/dial", h, body)
        assert r.status_code == 401, (auth, r.text)
        assert r.json()["error"] == "unauthorized"
    h = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    r = ingest.request("POST", "/dial", h, body)
    assert r.status_code == 202, r.text


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",
        "::",
        "192.168.1.10",
        "10.0.0.1",
        "",
        "example.com",
        "localhost.example.com",
        "[::ffff:10.0.0.1]",
    ],
)
def test_no_token_on_a_non_loopback_bind_refuses(db: Path, settings: Settings, host: str) -> None:
    assert not is_loopback_host(host)
    with projector(db, None, host) as app:
        for path in GUARDED:
            r = app.request("GET", path)
            assert r.status_code == 401, (host, path, r.text)
            assert r.json()["error"] == "api-token-required"
            # even a bearer header does not help: there is no token to match
            r = app.request("GET", path, {"authorization": "Bearer anything"})
            assert r.status_code == 401
        assert app.request("GET", "/livez").status_code == 200
    import json

    with InProcess(ingest_app(settings, host)) as app:
        r = app.request(
            "POST", "/dial", {"content-type": "application/json"}, json.dumps(DIAL).encode()
        )
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "api-token-required"
        assert app.request("GET", "/livez").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_no_token_on_a_loopback_bind_answers(db: Path, host: str) -> None:
    assert is_loopback_host(host)
    with projector(db, None, host) as app:
        for path in GUARDED:
            assert app.request("GET", path).status_code == 200


def test_bearer_token_compared_in_constant_time(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(callstream.web.hmac, "compare_digest", spy)
    with projector(db, TOKEN, "127.0.0.1") as app:
        assert app.request("GET", "/stats", {"authorization": "Bearer nope"}).status_code == 401
        assert app.request("GET", "/stats", {"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert (b"nope", TOKEN.encode()) in seen
    assert (TOKEN.encode(), TOKEN.encode()) in seen
    # in addition: the guard's source compares only through compare_digest
    src = inspect.getsource(BearerGuard.check)
    assert "compare_digest" in src
    assert "== self.token" not in src and "self.token ==" not in src


@pytest.mark.parametrize("command", ["ingest", "projector", "dialer", "emulator", "up"])
def test_services_bind_to_loopback_by_default(command: str) -> None:
    args = build_parser().parse_args([command])
    assert args.host == "127.0.0.1", (command, args.host)
