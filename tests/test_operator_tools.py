"""The product as an operator's tools see it, on one ``callstream up --demo`` run with an API
token and its output going to a file (not a terminal):

- every service's ``/metrics`` passes an exposition-format parser (and ``promtool check
  metrics`` when installed), has process metrics and its known label values at 0, and has
  every metric the shipped alert rules use;
- what ingest and the dialer wrote to the topics validates against the shipped schemas;
- the demo uses the token and prints one line per change; "try this" shows the header;
- stopping ``up`` removes ``callstream-up.env``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from callstream import schemas
from callstream.settings import Settings
from tests.helpers import read_topic, wait_until
from tests.test_up import Up

pytestmark = pytest.mark.slow

TOKEN = "operator-test-token-0123456789"
SERVICES = ("ingest", "projector", "dialer", "emulator", "reconciler")
RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "alerts.yml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Up, Path]]:
    tmp = tmp_path_factory.mktemp("operator")
    up = Up(tmp, "--demo", "--speed", "4", extra_env={"CALLSTREAM_API_TOKEN": TOKEN})
    try:
        up.wait_for("every demo call reached its final state", timeout=150)
        yield up, tmp
    finally:
        up.stop()


def metrics_of(up: Up, name: str) -> str:
    r = httpx.get(f"http://127.0.0.1:{up.ports[name]}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    return r.text


def test_the_demo_uses_the_token_and_prints_one_line_per_change(demo: tuple[Up, Path]) -> None:
    up, _ = demo
    out = up.output()
    assert "answered 401" not in out
    assert "\x1b[" not in out  # no screen redraws in a file
    lines = [line for line in out.splitlines() if line.startswith("demo: ")]
    assert len(lines) == len(set(lines)), "a change printed twice"
    final = {}
    for line in lines:
        m = re.match(r"demo: (\+\d+) \(.*\) (\S+)", line)
        assert m, line
        final[m.group(1)] = m.group(2)
    assert len(final) == 6
    assert set(final.values()) <= {"completed", "busy", "no-answer", "failed"}
    assert len(lines) <= 6 * 6  # requested, queued..completed at most: never a table per poll


def test_try_this_shows_the_token_header_and_it_works(demo: tuple[Up, Path]) -> None:
    up, _ = demo
    out = up.output()
    assert TOKEN not in out  # the secret itself is never printed
    line = next(line for line in out.splitlines() if "curl" in line and "/stats" in line)
    assert '-H "Authorization: Bearer $CALLSTREAM_API_TOKEN"' in line
    url = line.split()[-1]
    assert httpx.get(url, timeout=10).status_code == 401
    r = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200 and r.json()["calls"] >= 6


def test_every_service_exposes_lint_clean_metrics(demo: tuple[Up, Path]) -> None:
    up, tmp = demo
    promtool = shutil.which("promtool")
    for name in SERVICES:
        text = metrics_of(up, name)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for process in ("process_cpu_seconds", "process_resident_memory_bytes"):
            assert process in families, f"{name}: no {process}"
        for f in families.values():
            if f.type != "counter":
                assert not f.name.endswith("_total"), f"{name}: gauge {f.name} ends in _total"
        if promtool:
            r = subprocess.run(
                [promtool, "check", "metrics"], input=text, capture_output=True, text=True
            )
            assert r.returncode == 0, f"{name}: {r.stdout}{r.stderr}"
        (tmp / f"{name}.metrics").write_text(text)
    dialer = metrics_of(up, "dialer")
    # known label values exist before their first use, so the first one raises an alert
    for series in (
        'callstream_dialer_outcomes_total{result="in-doubt"}',
        'callstream_dialer_dead_letters_total{reason="retries-exhausted"}',
    ):
        assert series in dialer, series
    assert 'callstream_ingest_callbacks_total{outcome="unavailable"} 0.0' in metrics_of(
        up, "ingest"
    )
    # the projector reports the consumer's process, and its API process apart
    projector = metrics_of(up, "projector")
    assert "callstream_projector_api_process_resident_memory_bytes" in projector
    assert "callstream_projector_total_lag_records" in projector


def test_every_metric_an_alert_uses_is_exported(demo: tuple[Up, Path]) -> None:
    up, _ = demo
    exported = "\n".join(metrics_of(up, name) for name in SERVICES)
    used = set(re.findall(r"\b(callstream_[a-z_]+)", RULES.read_text()))
    assert used
    for metric in used:
        assert re.search(rf"^{metric}[{{ ]", exported, re.M), f"{metric} is not exported"


def test_what_ingest_and_the_dialer_wrote_matches_the_schemas(demo: tuple[Up, Path]) -> None:
    _, tmp = demo
    env_file = (tmp / "callstream-up.env").read_text()
    env = dict(re.findall(r"^export (\w+)=(.*)$", env_file, re.M))
    # a request Twilio refuses (the emulator, like Twilio, takes no "_" in a URL's host):
    # a rejected outcome and a dead letter
    dial = subprocess.run(
        [
            *(sys.executable, "-m", "callstream", "dial", "--to", "+15005550107"),
            *("--from", "+15005550001", "--url", "http://bad_host.example/twiml"),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dial.returncode == 0, dial.stderr
    settings = Settings.from_env(env={"KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"]})
    dead = read_topic(settings, "dialer.dead-letter", expect=1, timeout=60)
    counts = {}
    for topic in schemas.TOPICS:
        records = dead if topic == "dialer.dead-letter" else read_topic(settings, topic)
        validator = jsonschema.Draft202012Validator(schemas.load(topic))
        for rec in records:
            value = json.loads(rec.value)
            errors = [e.message for e in validator.iter_errors(value)]
            assert not errors, f"{topic} offset {rec.offset}: {errors}\n{value}"
            key = rec.key.decode()
            want = "CA" if topic == "twilio.call-status" else "AC"
            assert re.fullmatch(want + "[0-9a-f]{32}", key), (topic, key)
        counts[topic] = len(records)
    assert counts["twilio.call-status"] >= 6 * 2
    assert counts["dialer.requests"] == 7 and counts["dialer.outcomes"] == 7
    assert counts["dialer.ledger"] >= 7
    assert json.loads(dead[0].value)["reason"]["kind"] == "rejected-by-twilio"


def test_stopping_up_removes_its_env_file(demo: tuple[Up, Path]) -> None:
    up, tmp = demo  # runs last in this module: it stops the run
    env_file = tmp / "callstream-up.env"
    assert env_file.exists()
    assert up.stop() == 0, up.output()
    assert not env_file.exists()
    assert "Traceback" not in up.output()
    wait_until(lambda: not env_file.exists(), timeout=1)
