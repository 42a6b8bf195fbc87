"""``GET /calls?client=NAME`` and ``callstream calls --client NAME``: the calls where a
Voice SDK client is either party, with ``from_number``/``to_number`` as ``client:NAME``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callstream.cli import main
from callstream.envelope import encode
from tests.helpers import ACCOUNT_SID
from tests.projector.support import api_client, listed, sid, stored

TOPIC = "t.twilio.call-status"
# (call, parent, from, to): alice calls a number, alice calls bob, a caller rings bob,
# and an unrelated call; "client:alice2" must not match "alice".
LEGS = [
    (sid(1), None, "client:alice", "+14155550123"),
    (sid(2), sid(1), "+14155550100", "+14155550123"),
    (sid(3), None, "client:alice", "client:bob"),
    (sid(4), sid(3), "client:alice", "client:bob"),
    (sid(5), None, "+14155550199", "+14155550100"),
    (sid(6), sid(5), "+14155550199", "client:bob"),
    (sid(7), None, "+14155550199", "+14155550100"),
    (sid(8), None, "client:alice2", "+14155550123"),
]


def record(call: str, parent: str | None, frm: str, to: str) -> bytes:
    params = [
        ["AccountSid", ACCOUNT_SID],
        ["CallSid", call],
        ["CallStatus", "completed"],
        ["SequenceNumber", "0"],
        ["From", frm],
        ["To", to],
        ["Direction", "outbound-dial" if parent else "inbound"],
    ]
    if parent:
        params.append(["ParentCallSid", parent])
    url = "https://hooks.example.com/twilio/status"
    return encode("2026-11-25T12:00:00.000000Z", "POST", url, params, None)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return stored(tmp_path / "p.db", [record(*leg) for leg in LEGS])


@pytest.fixture
def client(db: Path) -> Iterator[httpx.Client]:
    with api_client(db) as c:
        yield c


sids = listed


def test_calls_of_a_client_as_either_party(client: httpx.Client) -> None:
    alice = client.get("/calls", params={"client": "alice"})
    assert alice.status_code == 200, alice.text
    assert sids(alice.json()) == [sid(1), sid(3), sid(4)]
    assert alice.json()["calls"][0]["from_number"] == "client:alice"
    bob = client.get("/calls", params={"client": "bob"}).json()
    assert sids(bob) == [sid(3), sid(4), sid(6)]
    assert {c["to_number"] for c in bob["calls"]} == {"client:bob"}
    child = client.get(f"/calls/{sid(6)}").json()
    assert child["parent_call_sid"] == sid(5) and child["to_number"] == "client:bob"
    assert client.get(f"/calls/{sid(5)}").json()["children"] == [sid(6)]
    only_dial = client.get("/calls", params={"client": "bob", "direction": "outbound-dial"})
    assert sids(only_dial.json()) == [sid(4), sid(6)]
    assert sids(client.get("/calls", params={"client": "nobody"}).json()) == []


def test_client_pages_and_bad_names(client: httpx.Client) -> None:
    first = client.get("/calls", params={"client": "bob", "limit": "2"}).json()
    assert sids(first) == [sid(3), sid(4)] and first["next_cursor"]
    rest = client.get(
        "/calls", params={"client": "bob", "limit": "2", "cursor": first["next_cursor"]}
    ).json()
    assert sids(rest) == [sid(6)] and rest["next_cursor"] is None
    # a cursor of one client's listing is not valid for another's
    other = client.get("/calls", params={"client": "alice", "cursor": first["next_cursor"]})
    assert other.status_code == 400 and other.json()["error"] == "bad-cursor"
    for bad in ("bad name", "client:bob", "x" * 300, "b%b"):
        r = client.get("/calls", params={"client": bad})
        assert r.status_code == 400 and r.json()["error"] == "bad-client", bad


def test_calls_command_filters_by_client(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLSTREAM_DB", raising=False)
    assert main(["calls", "--db", str(db), "--client", "bob", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(c["call_sid"] for c in out) == [sid(3), sid(4), sid(6)]
    assert main(["calls", "--db", str(db), "--client", "carol"]) == 0
    assert capsys.readouterr().out.strip() == "no calls of client:carol"
    assert main(["calls", "--db", str(db), "--client", "bad name"]) == 2
    err = capsys.readouterr().err
    assert "client must be a Voice SDK identity" in err and "Traceback" not in err
