"""``callstream token``: run as a process, the access token decodes (PyJWT, the library
twilio-python signs with) with the Voice grant, the identity and the expiry asked for."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import jwt
import pytest

from tests.helpers import ACCOUNT_SID

API_KEY = "SK" + "5e" * 16
API_SECRET = "api-secret-never-printed-" + "7c1d" * 4
APP_SID = "AP" + "9f" * 16


def run_token(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "TWILIO_"))}
    full = {
        **base,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_API_KEY": API_KEY,
        "TWILIO_API_SECRET": API_SECRET,
        "CALLSTREAM_TWIML_APP_SID": APP_SID,
        **env,
    }
    full = {k: v for k, v in full.items() if v != ""}
    return subprocess.run(
        [sys.executable, "-m", "callstream", "token", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_decodes_with_grant_identity_and_expiry() -> None:
    before = int(time.time())
    out = run_token("--identity", "alice", "--ttl", "600")
    after = int(time.time())
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    token = out.stdout.strip()
    assert "\n" not in token and API_SECRET not in out.stdout
    claims = jwt.decode(token, API_SECRET, algorithms=["HS256"])
    assert jwt.get_unverified_header(token)["cty"] == "twilio-fpa;v=1"
    assert claims["iss"] == API_KEY and claims["sub"] == ACCOUNT_SID
    assert claims["grants"] == {
        "identity": "alice",
        "voice": {"incoming": {"allow": True}, "outgoing": {"application_sid": APP_SID}},
    }
    assert before <= claims["nbf"] <= after
    assert claims["exp"] - claims["nbf"] == 600
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, API_SECRET + "x", algorithms=["HS256"])


def test_default_ttl_is_an_hour() -> None:
    out = run_token("--identity", "bob_2@example.com")
    claims = jwt.decode(out.stdout.strip(), API_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["nbf"] == 3600
    assert claims["grants"]["identity"] == "bob_2@example.com"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--identity", "alice"], {"TWILIO_API_SECRET": ""}, "TWILIO_API_SECRET must be set"),
        (
            ["--identity", "alice"],
            {"TWILIO_API_KEY": "", "CALLSTREAM_TWIML_APP_SID": ""},
            "TWILIO_API_KEY, CALLSTREAM_TWIML_APP_SID must be set",
        ),
        (["--identity", "alice"], {"TWILIO_API_KEY": "SK123"}, "TWILIO_API_KEY must be"),
        (["--identity", "bad name"], {}, "--identity: must be"),
        (["--identity", "alice", "--ttl", "86401"], {}, "--ttl: must be"),
        (["--identity", "alice", "--ttl", "-5"], {}, "--ttl"),
    ],
)
def test_bad_settings_or_flags_give_one_line(
    args: list[str], env: dict[str, str], message: str
) -> None:
    out = run_token(*args, **env)
    assert out.returncode == 2
    assert out.stdout == ""
    assert message in out.stderr and "Traceback" not in out.stderr
    assert API_SECRET not in out.stderr
