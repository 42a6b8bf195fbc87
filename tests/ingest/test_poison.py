"""One bad callback must never stop the pipe.

The attack (issue 17): a captured, validly signed callback replayed with a 1.1 MB
``I-Twilio-Idempotency-Token`` header (not covered by the signature). Its record was over
the producer's ``max_request_size``; the ``MessageSizeTooLargeError`` was taken for "Kafka
is down", the record was spooled, and the drain failed on it for ever, across restarts,
while every later callback queued behind it and ingest kept answering 204.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from kafka.errors import (
    InvalidRecordError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    UnknownTopicOrPartitionError,
)

from callstream import envelope, topics
from callstream.broker import free_port
from callstream.httplimits import HttpLimits
from callstream.settings import Settings
from ingest.bootstrap import create_app
from ingest.records import record_problem, row_problem
from ingest.spool import Spool
from tests.helpers import ACCOUNT_SID, read_topic, wait_until
from tests.ingest.support import call_sid, callback, ingest_process, post_callback
from tests.security.rawhttp import served

# the reproduction, verbatim
POISON_PARAMS = [
    ("AccountSid", ACCOUNT_SID),
    ("CallSid", "CA" + "0" * 32),
    ("CallStatus", "ringing"),
    ("SequenceNumber", "0"),
]
HUGE_TOKEN = "t" * 1_100_000
CLI = [sys.executable, "-c", "import sys; from callstream.cli import main; sys.exit(main())"]


def _normal_traffic(client: httpx.Client, n: int) -> list[str]:
    """``n`` ordinary signed callbacks, each answered 204; their CallSids."""
    sids = [call_sid() for _ in range(n)]
    for sid in sids:
        r = post_callback(client, callback(sid, "ringing", 0))
        assert r.status_code == 204, r.text
    return sids


def _topic_sids(settings: Settings, expect: int) -> list[str]:
    recs = read_topic(settings, settings.topic(topics.CALL_STATUS), expect=expect, timeout=15)
    return [r.key.decode() for r in recs]


def test_hostile_header_is_refused_and_normal_callbacks_reach_the_topic(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    with (
        ingest_process(settings, port, tmp_path / "ingest.log"),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        r = post_callback(client, POISON_PARAMS, headers={"I-Twilio-Idempotency-Token": HUGE_TOKEN})
        assert r.status_code == 431
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"] == "headers-too-large"

        # poison, then normal traffic: every callback reaches the topic within seconds
        sids = _normal_traffic(client, 20)
        assert sorted(_topic_sids(settings, 20)) == sorted(sids)
        ready = client.get("/readyz").json()
        assert ready == {"status": "ready", "kafka": True, "spool_depth": 0, "spool_dead": 0}
    assert "CA" + "0" * 32 not in _topic_sids(settings, 20)


def test_envelope_bound_is_the_second_line_of_defence(settings: Settings) -> None:
    """With the header limit raised past the token, the record bound still refuses the
    callback (413, never spooled) and the pipe keeps flowing."""
    app = create_app(settings, "127.0.0.1")
    limits = HttpLimits(max_header_bytes=4 * 1024 * 1024)
    with (
        served(app, limits) as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        r = post_callback(client, POISON_PARAMS, headers={"I-Twilio-Idempotency-Token": HUGE_TOKEN})
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "record-too-large"
        sids = _normal_traffic(client, 10)
        assert sorted(_topic_sids(settings, 10)) == sorted(sids)
        assert client.get("/readyz").json()["spool_depth"] == 0
        metrics = client.get("/metrics").text
        assert 'callstream_ingest_callbacks_total{outcome="unproducible"} 1.0' in metrics
    assert Spool(settings.spool).count() == 0


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (MessageSizeTooLargeError("big"), 413),
        (InvalidRecordError("bad"), 422),
        (UnknownTopicOrPartitionError("gone"), 503),
        (TypeError("key must be bytes"), 422),
    ],
)
def test_record_level_errors_are_told_apart(exc: BaseException, status: int) -> None:
    problem = record_problem(exc)
    assert problem is not None and problem.status == status
    # the drain sets a row aside for its content only; a missing topic is retried
    assert (row_problem(exc) is None) == (status == 503)


@pytest.mark.parametrize(
    "exc",
    [
        KafkaConnectionError("refused"),
        KafkaTimeoutError("metadata"),
        NotLeaderForPartitionError("moved"),
        TimeoutError("no ack"),
        ConnectionError("down"),
    ],
)
def test_connection_level_errors_spool(exc: BaseException) -> None:
    assert record_problem(exc) is None


def _old_spool(path: Path, rows: list[tuple[str, bytes, bytes]]) -> None:
    """A spool as the code before issue 17 wrote it (one table, no dead-letter table)."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE spool (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
            " key BLOB, value BLOB NOT NULL)"
        )
        db.executemany("INSERT INTO spool (topic, key, value) VALUES (?, ?, ?)", rows)


def _env_bytes(sid: str, token: str | None = None) -> bytes:
    params = [[k, v] for k, v in callback(sid, "ringing", 0)]
    url = "https://hooks.example.com/twilio/status"
    return envelope.encode("2026-11-25T12:00:00.000000Z", "POST", url, params, token)


def _cli(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        "CALLSTREAM_SPOOL": str(settings.spool),
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [*CLI, "spool", *argv], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_spool_poisoned_by_the_old_code_drains_after_upgrade(
    settings: Settings, tmp_path: Path
) -> None:
    topic = settings.topic(topics.CALL_STATUS)
    poison_sid, a, b = "CA" + "0" * 32, call_sid(), call_sid()
    _old_spool(
        settings.spool,
        [
            (topic, a.encode(), _env_bytes(a)),
            (topic, poison_sid.encode(), _env_bytes(poison_sid, HUGE_TOKEN)),
            (topic, b.encode(), _env_bytes(b)),
        ],
    )
    port = free_port()
    log = tmp_path / "ingest.log"
    with (
        ingest_process(settings, port, log),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        # the rows behind the poison drain (the topic has several partitions: no total order)
        assert sorted(_topic_sids(settings, 2)) == sorted([a, b])
        ready = wait_until(
            lambda: (j := client.get("/readyz").json())["spool_depth"] == 0 and j["kafka"] and j,
            timeout=15,
            what="spool drained",
        )
        assert ready["status"] == "ready" and ready["spool_dead"] == 1
        assert "callstream spool" in ready["warning"]
        metrics = client.get("/metrics").text
        assert "callstream_ingest_spool_dead 1.0" in metrics
        assert "callstream_ingest_spool_set_aside_total 1.0" in metrics
        assert b"spooled callback set aside" in log.read_bytes()
        sids = _normal_traffic(client, 5)  # and new callbacks flow at once
        assert sorted(_topic_sids(settings, 7)) == sorted([a, b, *sids])

        listed = _cli(settings, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        dead = json.loads(listed.stdout)["set_aside"]
        assert [(d["id"], d["key"]) for d in dead] == [(2, poison_sid)]
        assert "MessageSizeTooLargeError" in dead[0]["reason"]
        shown = _cli(settings, "show", "2")
        assert shown.returncode == 0 and poison_sid in shown.stdout

        again = _cli(settings, "retry", "2")  # still too large for the default producer
        assert again.returncode == 1
        assert "id 2: not produced: MessageSizeTooLargeError" in again.stderr
        retried = _cli(settings, "retry", "2", "--max-request-size", "4000000")
        assert retried.returncode == 0, retried.stderr
        assert poison_sid in _topic_sids(settings, 8)
        wait_until(
            lambda: client.get("/readyz").json()["spool_dead"] == 0, what="dead count updated"
        )
        assert json.loads(_cli(settings, "list", "--json").stdout)["set_aside"] == []


def test_spool_command_errors_are_one_line(settings: Settings, tmp_path: Path) -> None:
    missing = _cli(settings.__class__.from_env(env={}, spool=str(tmp_path / "none.db")))
    assert missing.returncode == 2
    assert missing.stderr.startswith("callstream spool: error: no spool file at")
    Spool(settings.spool).close()
    for argv, text in [
        (["show"], "needs at least one row id"),
        (["retry"], "needs row ids, or --all"),
        (["drop", "7"], "no set-aside row with id 7"),
    ]:
        r = _cli(settings, *argv)
        assert r.returncode == 2 and text in r.stderr, (argv, r.stderr)
        assert "Traceback" not in r.stderr
    r = _cli(settings, "show", "²")
    assert r.returncode == 2 and "a row id is a number" in r.stderr
    assert "0 callback(s) waiting" in _cli(settings).stdout
