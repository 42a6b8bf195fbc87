"""kill -9 of a real ``callstream ingest`` process under load: every callback that was
answered 204 is in the topic afterwards (after a restart has drained the spool), in order
per call, and none twice.

Duplicates are possible only when a kill falls between Kafka acknowledging a drained batch
and the spool deleting it; neither phase here drains before its kill, so none is allowed.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import httpx
import pytest

from callstream import kafka_clients, topics
from callstream.broker import EmbeddedBroker, free_port
from callstream.settings import Settings
from tests.conftest import make_settings
from tests.helpers import read_topic, wait_until
from tests.ingest.support import call_sid, callback, ingest_process, post_callback

pytestmark = pytest.mark.slow


class Load:
    """Threads posting signed callbacks, each for its own calls in sequence; remembers
    which were answered 204, in the order they were answered."""

    def __init__(self, url: str, threads: int = 4, keep_going: bool = False) -> None:
        self.url = url
        # keep_going: go on after a failed request (another worker takes the next one),
        # with the next callback: a retry of one that may have been stored would duplicate it
        self.keep_going = keep_going
        self.acked: list[tuple[str, int]] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            seq = 0
            sid = call_sid()
            while not self.stop.is_set():
                if seq == 20:
                    sid, seq = call_sid(), 0
                try:
                    r = post_callback(client, callback(sid, "ringing", seq))
                except httpx.HTTPError:
                    if not self.keep_going:
                        return  # the process is gone
                    seq += 1
                    continue
                if r.status_code == 204:
                    with self._lock:
                        self.acked.append((sid, seq))
                seq += 1

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)


def check_topic(
    settings: Settings, acked: list[tuple[str, int]], in_order: bool = True
) -> list[tuple[str, int]]:
    """Every acknowledged callback is in the topic, none twice; with ``in_order``, each
    call's in the order answered. Returns the topic's (CallSid, SequenceNumber)s in order."""
    records = read_topic(settings, settings.topic(topics.CALL_STATUS), expect=len(acked))
    records += read_topic(settings, settings.topic(topics.CALL_STATUS), idle=0.5)[len(records) :]
    seen: list[tuple[str, int]] = []
    for r in records:
        params = dict(json.loads(r.value)["params"])
        assert r.key == params["CallSid"].encode()
        seen.append((params["CallSid"], int(params["SequenceNumber"])))
    assert len(seen) == len(set(seen)), "a callback appears twice"
    missing = set(acked) - set(seen)
    assert not missing, f"{len(missing)} acknowledged callbacks are not in the topic"
    for sid in {s for s, _ in seen} if in_order else ():  # per call: the answer order
        seqs = [q for s, q in seen if s == sid]
        assert seqs == sorted(seqs), (sid, seqs)
    return seen


def test_kill_9_under_load(fresh_broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = make_settings(fresh_broker.bootstrap, "tansu", tmp_path)
    kafka_clients.ensure_topics(settings)
    port = free_port()

    # phase 1: broker up, every callback produced directly
    with (
        ingest_process(settings, port, tmp_path / "1.log") as proc,
        Load(f"http://127.0.0.1:{port}") as load,
    ):
        wait_until(lambda: load.count() >= 300, timeout=60, what="300 callbacks answered")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    check_topic(settings, load.acked)

    # phase 2: broker down, callbacks go to the spool; kill -9 while they pour in
    fresh_broker.kill()
    log = tmp_path / "2.log"
    with ingest_process(settings, port, log) as proc, Load(f"http://127.0.0.1:{port}") as load:
        wait_until(lambda: load.count() >= 300, timeout=60, what="300 callbacks spooled")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert b"callbacks go to the spool" in log.read_bytes()

    # the broker comes back empty (memory storage): recreate the topics, restart ingest
    fresh_broker.restart()
    kafka_clients.ensure_topics(settings)
    log = tmp_path / "3.log"
    with (
        ingest_process(settings, port, log),
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as c,
    ):
        wait_until(
            lambda: (
                c.get("/readyz").json()
                == {"status": "ready", "kafka": True, "spool_depth": 0, "spool_dead": 0}
            ),
            timeout=30,
            what="spool drained after restart",
        )
    assert b"spool not empty at start" in log.read_bytes()
    check_topic(settings, load.acked)
