"""The HTTP API and the ``calls``/``call`` commands over a projected database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from callstream.cli import main
from callstream.web import BearerGuard
from projector.api import create_app
from projector.progress import Progress
from projector.store import Store
from tests.helpers import ServedApp
from tests.projector.support import callback, sid


@contextmanager
def serve(app: Any) -> Iterator[httpx.Client]:
    with ServedApp(app) as served, httpx.Client(base_url=served.url, timeout=10) as c:
        yield c


TOPIC = "t.twilio.call-status"
PARENT = sid(1)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "p.db"
    st = Store(path, TOPIC)
    recs = [
        callback(PARENT, 0, "completed", 30, Direction="inbound", CallDuration="20"),
        callback(sid(2), 0, "initiated", 1, Direction="outbound-dial", ParentCallSid=PARENT),
        callback(sid(2), 2, "in-progress", 5, Direction="outbound-dial", ParentCallSid=PARENT),
        callback(sid(2), 1, "ringing", 2, Direction="outbound-dial", ParentCallSid=PARENT),
        callback(sid(3), 1, "ringing", 3),
    ] + [callback(sid(100 + i), 0, "completed", i, CallDuration=str(i)) for i in range(25)]
    st.apply([(0, i, v) for i, v in enumerate(recs)])
    st.close()
    return path


@pytest.fixture
def client(db: Path) -> Iterator[httpx.Client]:
    prog = Progress(partitions=[0], stored={0: 30}, high={0: 30})
    with serve(create_app(db, BearerGuard(None, "127.0.0.1"), prog)) as c:
        yield c


def test_get_call_with_events_and_children(client: httpx.Client) -> None:
    r = client.get(f"/calls/{sid(2)}")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "in-progress" and body["parent_call_sid"] == PARENT
    assert [e["sequence_number"] for e in body["events"]] == [0, 1, 2]
    assert body["events"][0]["params"][1] == ["CallSid", sid(2)]
    assert client.get(f"/calls/{PARENT}").json()["children"] == [sid(2)]


def test_unknown_call_is_404(client: httpx.Client) -> None:
    r = client.get(f"/calls/{sid(999)}")
    assert r.status_code == 404 and r.json()["error"] == "unknown-call"
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"]


def test_list_paginates_with_a_stable_cursor(client: httpx.Client) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        q = "/calls?status=completed&limit=7" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(q).json()
        seen += [c["call_sid"] for c in body["calls"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 26 and seen == sorted(seen) and len(set(seen)) == 26
    assert [c["call_sid"] for c in client.get(f"/calls?parent={PARENT}").json()["calls"]] == [
        sid(2)
    ]
    assert client.get("/calls?direction=inbound").json()["calls"][0]["call_sid"] == PARENT


@pytest.mark.parametrize(
    "query, code",
    [
        ("limit=0", "bad-limit"),
        ("limit=x", "bad-limit"),
        ("limit=-3", "bad-limit"),
        ("status=answered", "bad-status"),
        ("direction=sideways", "bad-direction"),
        ("cursor=bm9wZQ", "bad-cursor"),
        ("cursor=%%%", "bad-cursor"),
        ("colour=red", "bad-parameter"),
    ],
)
def test_bad_parameters_are_400(client: httpx.Client, query: str, code: str) -> None:
    r = client.get(f"/calls?{query}")
    assert r.status_code == 400 and r.json()["error"] == code and r.json()["message"]


def test_a_cursor_for_other_filters_is_refused(client: httpx.Client) -> None:
    cur = client.get("/calls?limit=1").json()["next_cursor"]
    assert client.get(f"/calls?limit=1&cursor={cur}").status_code == 200
    assert client.get(f"/calls?limit=1&status=ringing&cursor={cur}").status_code == 400


def test_stats(client: httpx.Client) -> None:
    s = client.get("/stats").json()
    assert s["calls"] == 28
    assert s["by_status"] == {"completed": 26, "in-progress": 1, "ringing": 1}
    assert s["answer_rate"] == 1.0 and s["mean_talk_s"] is not None
    assert s["mean_ring_s"] == 3.0


def test_health_and_metrics(client: httpx.Client) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    m = client.get("/metrics").text
    assert 'callstream_projector_lag_records{partition="0"} 0.0' in m
    assert "callstream_projector_newest_callback_age_seconds" in m


def test_not_ready_while_behind(db: Path) -> None:
    prog = Progress(partitions=[0, 1], stored={0: 30}, high={0: 40, 1: 0})
    with serve(create_app(db, BearerGuard(None, "127.0.0.1"), prog)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["lag"] == 10
        assert 'callstream_projector_lag_records{partition="0"} 10.0' in c.get("/metrics").text


def test_bearer_token(db: Path) -> None:
    with serve(create_app(db, BearerGuard("s3cret", "0.0.0.0"))) as c:
        assert c.get("/calls").status_code == 401
        assert c.get("/stats", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/stats", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/livez").status_code == 200
    with serve(create_app(db, BearerGuard(None, "0.0.0.0"))) as c:
        assert c.get(f"/calls/{PARENT}").status_code == 401


# -- CLI ----------------------------------------------------------------------------------


def test_cli_calls_table_and_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "--db", str(db), "--limit", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["CALL", "SID", "STATUS"] and len(out) == 4
    assert main(["calls", "--db", str(db), "--status", "ringing", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["call_sid"] for r in rows] == [sid(3)]


def test_cli_call(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", sid(2), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "in-progress" in out and "ringing" in out and "SEQ" in out
    assert main(["call", PARENT, "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["children"] == [sid(2)]


def test_cli_errors(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", sid(999), "--db", str(db)]) == 1
    assert "no call" in capsys.readouterr().err
    assert main(["calls", "--db", str(tmp_path / "missing.db")]) == 2
    err = capsys.readouterr().err
    assert "no projector database" in err and err.count("\n") == 1
    assert main(["calls", "--db", str(db), "--status", "nope"]) == 2


def test_readyz_and_metrics_tell_a_stuck_consumer(db: Path) -> None:
    prog = Progress(partitions=[0], stored={0: 30}, high={0: 30}, polled_at=time.time())
    with serve(create_app(db, BearerGuard(None, "127.0.0.1"), prog)) as c:
        assert c.get("/readyz").status_code == 200
        prog.polled_at = time.time() - 120
        r = c.get("/readyz")
        assert r.status_code == 503
        err = r.json()["error"]
        assert err.startswith("the consumer has not polled for 1"), err
        metrics = c.get("/metrics").text
        line = next(
            x for x in metrics.splitlines() if x.startswith("callstream_projector_last_poll_age")
        )
        assert float(line.split()[-1]) >= 120
