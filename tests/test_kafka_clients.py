"""Kafka clients other than kafka-python against the broker the suite runs on (the embedded
one by default), as a downstream consumer would use them (docs/consumers.md).

- confluent-kafka (a test dependency) bundles a current librdkafka: its consumer group reads
  what callstream wrote, with the embedded broker's short session timeout;
- kcat, when installed, is checked against the documented versions: Debian 12's kcat is
  built on librdkafka 2.0.2, which cannot read the embedded broker's ApiVersions answer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from callstream import kafka_clients, topics
from callstream.envelope import encode
from callstream.settings import Settings
from tests.brokers import TestBroker
from tests.helpers import wait_until


def produce(settings: Settings, n: int) -> list[bytes]:
    producer = kafka_clients.make_producer(settings, "test-clients")
    keys = [f"CA{i:032x}".encode() for i in range(n)]
    try:
        for k in keys:
            producer.send(settings.topic(topics.CALL_STATUS), b'{"v":1}', key=k).get(timeout=15)
    finally:
        producer.close()
    return keys


def test_confluent_kafka_consumer_group_reads_what_callstream_wrote(
    settings: Settings, broker: TestBroker
) -> None:
    ck = pytest.importorskip("confluent_kafka")
    keys = produce(settings, 5)
    consumer = ck.Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": "test-confluent",
            "auto.offset.reset": "earliest",
            # the embedded broker holds a JoinGroup for half the session timeout: librdkafka's
            # default (45 s) would keep the first poll waiting ~22 s
            "session.timeout.ms": 6000,
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([settings.topic(topics.CALL_STATUS)])
        got: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(got) < len(keys) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg.key())
        assert sorted(got) == sorted(keys)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def librdkafka_of_kcat(kcat: str) -> tuple[int, ...]:
    out = subprocess.run([kcat, "-V"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", out)
    assert m, out
    return tuple(int(x) for x in m.groups())


def test_kcat_matches_the_documented_versions(settings: Settings, broker: TestBroker) -> None:
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        pytest.skip("kcat is not installed (Debian: apt-get install kcat)")
    keys = produce(settings, 2)
    version = librdkafka_of_kcat(kcat)
    r = subprocess.run(
        [
            *(kcat, "-b", str(settings.kafka_bootstrap_servers), "-C", "-q", "-e"),
            *("-t", settings.topic(topics.CALL_STATUS), "-o", "beginning", "-f", "%k\\n"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if broker.profile.name == "tansu" and version < (2, 1, 0):
        # documented: librdkafka 2.0.x cannot talk to the embedded broker
        assert r.returncode != 0, f"kcat on librdkafka {version} now works: update the docs"
    else:
        assert r.returncode == 0, r.stderr
        assert sorted(r.stdout.split()) == sorted(k.decode() for k in keys)


def test_the_ten_line_consumer_of_the_docs_reads_the_topic(
    settings: Settings, tmp_path: Path
) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "consumers.md").read_text()
    m = re.search(r"## A consumer in ten lines.*?```python\n(.*?)```", doc, re.S)
    assert m is not None, "docs/consumers.md lost its consumer"
    code = m.group(1)
    assert len(code.strip().splitlines()) <= 10
    topic = settings.topic(topics.CALL_STATUS)
    code = code.replace('"127.0.0.1:9092"', repr(settings.kafka_bootstrap_servers))
    code = code.replace('"twilio.call-status"', repr(topic))
    script = tmp_path / "consumer.py"
    script.write_text(code)
    producer = kafka_clients.make_producer(settings, "test-doc-consumer")
    try:
        for i, status in enumerate(("ringing", "completed")):
            params = [["CallSid", f"CA{i:032x}"], ["CallStatus", status], ["CallDuration", "7"]]
            value = encode("2026-11-25T12:00:00.000000Z", "POST", "https://h/", params, None)
            producer.send(topic, value, key=f"CA{i:032x}".encode()).get(timeout=15)
    finally:
        producer.close()
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())

    threading.Thread(target=read, daemon=True).start()
    try:  # it runs until stopped
        wait_until(lambda: len(lines) >= 2 or proc.poll() is not None, timeout=60, what="2 lines")
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
    # two keys, two partitions: no order between them
    assert sorted(lines) == [f"CA{0:032x} ringing 7", f"CA{1:032x} completed 7"]
