"""compose.yaml and the Dockerfile, checked without a Docker engine (none runs here).

What these tests cannot show: that the images build and the containers start. What they
do show: the YAML is valid, every service runs a real CLI command with flags the CLI
accepts, the environment is made of settings callstream knows and that validate, data
files live on volumes, ports agree with commands and health checks, and the package the
Dockerfile installs contains every service.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from callstream.cli import build_parser
from callstream.settings import ENV_VARS, Settings

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("ingest", "projector", "dialer", "reconciler")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _example_env() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def _interpolate(value: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, op, default = m.group(1), m.group(2), m.group(3)
        if name in env and env[name] != "":
            return env[name]
        if op == ":?":
            raise AssertionError(f"{name} is required by compose.yaml but not in .env.example")
        return default or ""

    return re.sub(r"\$\{([A-Z_]+)(?:(:[-?])([^}]*))?\}", sub, value)


def test_services_and_kraft_broker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"kafka", "topics", *SERVICES}
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # the topics step creates them
    assert "kafka-data:" + env["KAFKA_LOG_DIRS"] in kafka["volumes"]
    assert kafka["healthcheck"]["test"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in SERVICES:
        assert services[name]["depends_on"]["topics"]["condition"] == (
            "service_completed_successfully"
        )


def test_every_command_is_accepted_by_the_cli(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name in ("topics", *SERVICES):
        cmd = compose["services"][name]["command"]
        args = parser.parse_args(cmd)
        assert args.command == cmd[0]
        assert args._module is not None, f"{cmd[0]} is not available in this build"


def test_environment_is_known_settings_that_validate(compose: dict[str, Any]) -> None:
    example = _example_env()
    known = set(ENV_VARS.values())
    bootstrap_host = compose["services"]["kafka"]["environment"][
        "KAFKA_ADVERTISED_LISTENERS"
    ].split("//")[1]
    for name in ("topics", *SERVICES):
        env = {
            k: _interpolate(str(v), example)
            for k, v in compose["services"][name]["environment"].items()
        }
        assert set(env) <= known, f"{name}: unknown variables {set(env) - known}"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap_host
        Settings.from_env(env=env)  # raises on a bad value


def test_data_files_live_on_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, var in (("ingest", "CALLSTREAM_SPOOL"), ("projector", "CALLSTREAM_DB")):
        path = services[name]["environment"][var]
        mounts = [v.split(":", 1)[1] for v in services[name]["volumes"]]
        assert any(path.startswith(m.rstrip("/") + "/") for m in mounts), (name, path, mounts)
        assert services[name]["volumes"][0].split(":")[0] in compose["volumes"]


def test_ports_and_health_checks_agree_with_commands(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        svc = compose["services"][name]
        cmd = svc["command"]
        port = cmd[cmd.index("--port") + 1]
        assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
        assert any(p.endswith(f":{port}") for p in svc["ports"])
        assert f"127.0.0.1:{port}/" in " ".join(svc["healthcheck"]["test"])
    # operator routes are published on the host's loopback only
    assert compose["services"]["projector"]["ports"] == ["127.0.0.1:8081:8081"]


def test_dockerfile_is_slim_non_root_and_copies_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[1-9]-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    for pkg in ("callstream", "ingest", "projector", "dialer", "emulator", "reconciler"):
        assert f"COPY {pkg} ./{pkg}" in text
    assert 'ENTRYPOINT ["callstream"]' in text


@pytest.mark.slow
def test_the_wheel_the_image_installs_holds_every_service(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("callstream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for pkg in ("callstream", "ingest", "projector", "dialer", "emulator", "reconciler"):
        assert f"{pkg}/__init__.py" in names, f"{pkg} missing from the wheel"
        assert f"{pkg}/py.typed" in names
    assert any(n.endswith("entry_points.txt") for n in names)
