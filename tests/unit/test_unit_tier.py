"""The mutation setup stays true: ``[tool.mutmut]`` names modules and tests that exist, the
tests it runs need no broker, and docs/contributing.md lists every mutated module."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# fixtures of tests/conftest.py that start or reach a broker
BROKER_FIXTURES = {"broker", "fresh_broker", "settings"}
# modules whose use makes a test leave the process or touch the network
OUTSIDE = {"subprocess", "socket", "httpx", "kafka", "testcontainers", "docker"}


def mutmut() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(config["tool"]["mutmut"])


def selected_test_files() -> list[Path]:
    files: list[Path] = []
    for entry in mutmut()["pytest_add_cli_args_test_selection"]:
        path = ROOT / entry
        files += sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
    return files


def test_mutated_modules_and_their_tests_exist() -> None:
    cfg = mutmut()
    for module in cfg["only_mutate"]:
        assert (ROOT / module).is_file(), module
        assert any(module.startswith(p + "/") for p in cfg["source_paths"]), module
    for entry in cfg["pytest_add_cli_args_test_selection"]:
        assert (ROOT / entry).exists(), entry
    assert "tests/unit" in cfg["pytest_add_cli_args_test_selection"]


def test_the_unit_tier_needs_no_broker_and_no_outside_world() -> None:
    files = selected_test_files()
    assert len(files) >= len(mutmut()["only_mutate"])
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                used = {a.arg for a in node.args.args} & BROKER_FIXTURES
                assert not used, f"{path.name}::{node.name} uses {used}"
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & OUTSIDE, f"{path.name} imports {names & OUTSIDE}"


def test_contributing_docs_list_every_mutated_module() -> None:
    text = (ROOT / "docs" / "contributing.md").read_text()
    for module in mutmut()["only_mutate"]:
        assert f"`{module}`" in text, module
