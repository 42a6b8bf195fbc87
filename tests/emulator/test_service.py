"""The emulator as a service: CLI flags, configuration errors, health and metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
import pytest

from callstream.cli import build_parser
from callstream.settings import SettingsError
from emulator.cli import build_config
from emulator.scenarios import Scenarios
from tests.emulator.conftest import TWIML, Emu
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["emulator", *argv])


def test_cli_flags_build_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("CALLSTREAM_CPS", "3")
    scen = tmp_path / "s.json"
    scen.write_text('{"numbers": {"+15550001000": {"outcome": "busy"}}}')
    args = _args(
        "--port",
        "9000",
        "--speed",
        "5",
        "--scenarios",
        str(scen),
        "--seed",
        "4",
        "--chaos-duplicate",
        "0.5",
        "--chaos-reorder",
        "1",
        "--fault-create-429",
        "2",
        "--fault-create-500-rate",
        "0.1",
    )
    cfg = build_config(args)
    assert (args.host, args.port) == ("127.0.0.1", 9000)
    assert (cfg.account_sid, cfg.cps, cfg.speed, cfg.seed) == (ACCOUNT_SID, 3.0, 5.0, 4)
    assert cfg.scenarios.outcome_for("+15550001000").outcome == "busy"
    assert cfg.chaos.duplicate == 0.5 and cfg.chaos.reorder == 1.0
    assert cfg.faults.create_429 == 2 and cfg.faults.create_500_rate == 0.1
    assert build_config(_args("--cps", "7")).cps == 7.0


def test_cli_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.delenv("CALLSTREAM_CPS", raising=False)
    args = _args()
    assert (args.host, args.port) == ("127.0.0.1", 8099)
    cfg = build_config(args)
    assert cfg.cps == 1.0 and cfg.speed == 1.0 and not cfg.chaos.active


def test_cli_requires_the_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with pytest.raises(SettingsError, match="TWILIO_ACCOUNT_SID"):
        build_config(_args())
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with pytest.raises(SettingsError, match="cannot read scenario file"):
        build_config(_args("--scenarios", str(tmp_path / "x.yaml")))
    with pytest.raises(SystemExit):
        _args("--chaos-drop", "2")


def test_health_and_metrics(emu: Emu) -> None:
    assert httpx.get(emu.url + "/livez").json() == {"status": "ok"}
    ready = httpx.get(emu.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    emu.client.calls.create(to="+15558675310", from_="+15005550006", twiml=TWIML)
    text = httpx.get(emu.url + "/metrics").text
    assert 'emulator_create_requests_total{status="201"} 1.0' in text
    assert "emulator_queue_depth" in text


def test_unknown_twilio_paths_answer_twilio_errors(emu: Emu) -> None:
    r = httpx.get(f"{emu.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Nope.json")
    assert r.status_code == 404 and r.json()["code"] == 20404
    r = httpx.put(f"{emu.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    assert r.status_code == 405 and r.json()["code"] == 20004


def test_public_surface() -> None:
    import emulator

    assert sorted(emulator.__all__) == [
        "Chaos",
        "EmulatorConfig",
        "FaultSettings",
        "Outcome",
        "Scenarios",
        "create_app",
    ]
    for name in emulator.__all__:
        assert getattr(emulator, name) is not None
    with pytest.raises(AttributeError):
        _ = emulator.nothing_here


def test_scenario_examples_in_the_docs_load(tmp_path: Path) -> None:
    import re

    doc = (Path(__file__).parents[2] / "docs" / "emulator.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(toml|json)\n(.*?)```", doc, re.DOTALL)
    assert {kind for kind, _ in blocks} == {"toml", "json"}
    for i, (kind, text) in enumerate(blocks):
        path = tmp_path / f"example{i}.{kind}"
        path.write_text(text, encoding="utf-8")
        scenarios = Scenarios.load(path)
        assert scenarios.outcome_for("+15550001000").outcome == "busy"
