"""The accounts file as a user meets it: services and ``callstream accounts`` refuse a bad
file in one line (file, line, problem) with exit 2, and list accounts without tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

A = "AC" + "a" * 32
B = "AC" + "b" * 32
SECRET = "file-token-secret-42"
CLI = [sys.executable, "-m", "callstream"]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "CALLSTREAM_"))}
    return subprocess.run(
        [*CLI, *args],
        env={
            **keep,
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "CALLSTREAM_PUBLIC_URL": "https://hooks.example.com",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["ingest", "dialer", "accounts"])
def test_a_bad_file_stops_each_command_in_one_line(tmp_path: Path, command: str) -> None:
    f = tmp_path / "accounts.toml"
    f.write_text(f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\ncps = 0\n')
    r = run(
        [command, "--port", "23987"] if command != "accounts" else [command],
        CALLSTREAM_ACCOUNTS=str(f),
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"CALLSTREAM_ACCOUNTS: {f}, line 4: cps must be above 0" in lines[0]
    assert SECRET not in r.stderr + r.stdout


def test_a_missing_file_and_no_account(tmp_path: Path) -> None:
    r = run(["accounts"], CALLSTREAM_ACCOUNTS=str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "nope.toml: no such file" in r.stderr
    r = run(["accounts"])
    assert r.returncode == 2 and "no Twilio account is configured" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_accounts_lists_without_tokens(tmp_path: Path) -> None:
    f = tmp_path / "accounts.toml"
    f.write_text(
        f'[[account]]\nsid = "{B}"\nauth_token_env = "B_TOKEN"\ncps = 2\nfriendly_name = "EU"\n'
    )
    env = {
        "CALLSTREAM_ACCOUNTS": str(f),
        "B_TOKEN": SECRET,
        "TWILIO_ACCOUNT_SID": A,
        "TWILIO_AUTH_TOKEN": SECRET + "-a",
        "CALLSTREAM_CPS": "3",
    }
    r = run(["accounts", "--json", "--no-discovery"], **env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        {
            "sid": A,
            "friendly_name": None,
            "parent_sid": None,
            "cps": 3.0,
            "source": "env",
            "status": "active",
        },
        {
            "sid": B,
            "friendly_name": "EU",
            "parent_sid": None,
            "cps": 2.0,
            "source": "file",
            "status": "active",
        },
    ]
    table = run(["accounts", "--no-discovery"], **env)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["sid", "name", "parent", "cps", "source", "status"]
    assert lines[2].split() == [B, "EU", "-", "2", "file", "active"]
    for out in (r, table):
        assert SECRET not in out.stdout + out.stderr
