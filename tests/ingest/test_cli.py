"""``callstream ingest``: its flags, and a one-line exit 2 on missing configuration."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from ingest import cli


def test_defaults() -> None:
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 8080)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (
            {},
            [
                "TWILIO_AUTH_TOKEN",
                "TWILIO_ACCOUNT_SID",
                "CALLSTREAM_PUBLIC_URL",
                "KAFKA_BOOTSTRAP_SERVERS",
            ],
        ),
        (
            {
                "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                "CALLSTREAM_PUBLIC_URL": "https://h.example.com",
                "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            },
            ["TWILIO_AUTH_TOKEN"],
        ),
    ],
)
def test_missing_settings_exit_2_with_one_line(env: dict[str, str], names: list[str]) -> None:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "CALLSTREAM_", "KAFKA_"))
    }
    r = subprocess.run(
        [sys.executable, "-m", "callstream.cli", "ingest"],
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("callstream ingest: error:")
    for n in names:
        assert n in lines[0]
