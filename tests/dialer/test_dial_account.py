"""``callstream dial --account SID``: the request carries that account (and is keyed by
it), with or without ``TWILIO_ACCOUNT_SID``; a malformed SID is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from callstream import topics
from callstream.settings import Settings
from tests.dialer.harness import CALLSTREAM, ROOT, dialer_env
from tests.helpers import read_topic

SECOND = "AC" + "b" * 32
DIAL = ["dial", "--to", "+14155550123", "--from", "+14155550000", "--twiml", "<Response/>"]


def dial(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CALLSTREAM, *DIAL, *extra], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_dial_account_names_the_account(settings: Settings) -> None:
    env = dialer_env(settings)
    done = dial(env, "--account", SECOND, "--id", "acct-1")
    assert done.returncode == 0, done.stderr
    # without TWILIO_ACCOUNT_SID, --account is enough
    alone = {k: v for k, v in env.items() if k != "TWILIO_ACCOUNT_SID"}
    done = dial(alone, "--account", SECOND, "--id", "acct-2")
    assert done.returncode == 0, done.stderr
    recs = read_topic(settings, settings.topic(topics.DIALER_REQUESTS), expect=2)
    assert [r.key for r in recs] == [SECOND.encode()] * 2
    assert [json.loads(r.value)["account_sid"] for r in recs] == [SECOND] * 2
    assert sorted(json.loads(r.value)["id"] for r in recs) == ["acct-1", "acct-2"]


def test_dial_defaults_to_the_first_account_of_the_accounts_file(
    settings: Settings, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[[account]]\nsid = "{SECOND}"\nauth_token = "t-second"\n\n'
        f'[[account]]\nsid = "AC{"c" * 32}"\nauth_token = "t-third"\n'
    )
    env = {k: v for k, v in dialer_env(settings).items() if not k.startswith("TWILIO_A")}
    done = dial({**env, "CALLSTREAM_ACCOUNTS": str(accounts)}, "--id", "first-1")
    assert done.returncode == 0, done.stderr
    (rec,) = read_topic(settings, settings.topic(topics.DIALER_REQUESTS), expect=1)
    assert rec.key == SECOND.encode() and json.loads(rec.value)["account_sid"] == SECOND


def test_dial_bad_account_is_one_line(settings: Settings) -> None:
    for bad in ("AC123", "CA" + "b" * 32, "AC" + "B" * 32):
        done = dial(dialer_env(settings), "--account", bad)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert "is not an account SID" in lines[0]
    assert read_topic(settings, settings.topic(topics.DIALER_REQUESTS), idle=0.5) == []
