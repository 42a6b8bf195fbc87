"""The shipped monitoring files (deploy/prometheus): their shape, and promtool's own checks
and unit tests when promtool is installed (Debian: apt-get install prometheus)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
SERVICES = (
    "ingest",
    "projector",
    "dialer",
    "reconciler",
)  # the emulator is for local development only


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((HERE / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def jobs() -> list[str]:
    doc = yaml.safe_load((HERE / "prometheus.yml").read_text())
    return [j["job_name"] for j in doc["scrape_configs"]]


def test_every_rule_has_a_severity_and_a_summary() -> None:
    assert len(rules()) >= 12
    for r in rules():
        assert r["labels"]["severity"] in ("page", "ticket"), r["alert"]
        assert r["annotations"]["summary"].strip(), r["alert"]


def test_every_service_has_an_up_alert_on_a_job_the_scrape_config_sets() -> None:
    assert sorted(jobs()) == sorted(f"callstream-{s}" for s in SERVICES)
    used = {j for r in rules() for j in re.findall(r'job="([^"]+)"', r["expr"])}
    assert used == set(jobs())
    for job in jobs():
        assert any(f'up{{job="{job}"}} == 0' in r["expr"] for r in rules()), job


def test_every_rule_is_tested_by_the_promtool_unit_tests() -> None:
    tests = yaml.safe_load((HERE / "alerts_test.yml").read_text())
    tested = {c["alertname"] for t in tests["tests"] for c in t["alert_rule_test"]}
    assert tested == {r["alert"] for r in rules()}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return subprocess.run(
        [exe, *args], cwd=HERE, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_checks_the_scrape_config_and_the_rules() -> None:
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    r = promtool("check", "rules", "alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    r = promtool("test", "rules", "alerts_test.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr
