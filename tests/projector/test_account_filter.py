"""``GET /calls?account=SID``, ``GET /stats?account=SID`` (and ``by_account``), and
``callstream calls --account SID``: one account's calls, a subaccount counting as an
account of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callstream.cli import main
from tests.helpers import ACCOUNT_SID
from tests.projector.support import api_client, callback, listed, sid, stored

SECOND = "AC" + "b" * 32
SUB = "AC" + "5" * 32  # a subaccount: its calls carry its own AccountSid
NOBODY = "AC" + "9" * 32
# (call, account, events): each event is (sequence number, status)
CALLS = [
    (sid(1), ACCOUNT_SID, [(0, "ringing"), (1, "in-progress"), (2, "completed")]),
    (sid(2), SECOND, [(0, "ringing"), (1, "busy")]),
    (sid(3), ACCOUNT_SID, [(0, "ringing")]),
    (sid(4), SUB, [(0, "ringing"), (1, "in-progress"), (2, "completed")]),
    (sid(5), SECOND, [(0, "ringing"), (1, "in-progress"), (2, "completed")]),
    (sid(6), ACCOUNT_SID, [(0, "no-answer")]),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    records = [
        callback(
            c,
            n,
            s,
            10 * k + n,
            account_sid=a,
            **({"CallDuration": "30"} if s == "completed" else {}),
        )
        for k, (c, a, evs) in enumerate(CALLS)
        for n, s in evs
    ]
    return stored(tmp_path / "p.db", records)


@pytest.fixture
def client(db: Path) -> Iterator[httpx.Client]:
    with api_client(db) as c:
        yield c


def test_calls_of_one_account(client: httpx.Client) -> None:
    mine = client.get("/calls", params={"account": ACCOUNT_SID})
    assert mine.status_code == 200, mine.text
    assert listed(mine.json()) == [sid(1), sid(3), sid(6)]
    assert {c["account_sid"] for c in mine.json()["calls"]} == {ACCOUNT_SID}
    assert listed(client.get("/calls", params={"account": SUB}).json()) == [sid(4)]
    second_done = client.get("/calls", params={"account": SECOND, "status": "completed"})
    assert listed(second_done.json()) == [sid(5)]
    assert listed(client.get("/calls", params={"account": NOBODY}).json()) == []
    assert len(listed(client.get("/calls").json())) == len(CALLS)  # no filter: every account


def test_account_pages_and_cursors(client: httpx.Client) -> None:
    first = client.get("/calls", params={"account": ACCOUNT_SID, "limit": "2"}).json()
    assert listed(first) == [sid(1), sid(3)] and first["next_cursor"]
    rest = client.get(
        "/calls", params={"account": ACCOUNT_SID, "limit": "2", "cursor": first["next_cursor"]}
    ).json()
    assert listed(rest) == [sid(6)] and rest["next_cursor"] is None
    # a cursor of one account's listing is valid neither for another's nor without a filter
    for params in ({"account": SECOND}, {}):
        r = client.get("/calls", params={**params, "cursor": first["next_cursor"]})
        assert r.status_code == 400 and r.json()["error"] == "bad-cursor", params


@pytest.mark.parametrize("bad", ["AC123", "ac" + "b" * 32, "AC" + "B" * 32, "CA" + "b" * 32, " "])
def test_bad_account_is_400(client: httpx.Client, bad: str) -> None:
    for route in ("/calls", "/stats"):
        r = client.get(route, params={"account": bad})
        assert r.status_code == 400, (route, r.text)
        assert r.json()["error"] == "bad-account" and "message" in r.json()


def test_stats_by_account_and_for_one(client: httpx.Client) -> None:
    everything = client.get("/stats").json()
    assert everything["calls"] == len(CALLS)
    assert everything["by_account"] == {ACCOUNT_SID: 3, SUB: 1, SECOND: 2}
    second = client.get("/stats", params={"account": SECOND}).json()
    assert second["calls"] == 2 and second["by_account"] == {SECOND: 2}
    assert second["by_status"] == {"busy": 1, "completed": 1}
    assert second["events"] == 5 and second["ended"] == 2 and second["answer_rate"] == 0.5
    assert second["mean_talk_s"] == 30.0
    mine = client.get("/stats", params={"account": ACCOUNT_SID}).json()
    assert mine["by_status"] == {"completed": 1, "no-answer": 1, "ringing": 1}
    assert mine["events"] == 5 and mine["answer_rate"] == 0.5
    none = client.get("/stats", params={"account": NOBODY}).json()
    assert none["calls"] == 0 and none["by_account"] == {} and none["answer_rate"] is None
    odd = client.get("/stats", params={"acount": SECOND})
    assert odd.status_code == 400 and odd.json()["error"] == "bad-parameter"


def test_calls_command_filters_by_account(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLSTREAM_DB", raising=False)
    assert main(["calls", "--db", str(db), "--account", SECOND, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(c["call_sid"] for c in out) == [sid(2), sid(5)]
    assert main(["calls", "--db", str(db), "--account", SUB]) == 0
    assert sid(4) in capsys.readouterr().out
    assert main(["calls", "--db", str(db), "--account", NOBODY]) == 0
    assert capsys.readouterr().out.strip() == f"no calls of account {NOBODY}"
    assert main(["calls", "--db", str(db), "--account", "AC123"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "account must be an account SID" in err[0], err
