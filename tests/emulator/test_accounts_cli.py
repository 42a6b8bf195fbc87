"""``callstream emulator --account SID:TOKEN``: a real emulator process with two main
accounts, and bad values refused with one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from callstream.broker import free_port
from tests.emulator.conftest import FROM, TO, TWIML, twilio_client
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until

SECOND_SID, SECOND_TOKEN = "AC" + "b" * 32, "second_token_0123456789abcdef000"
THIRD_SID, THIRD_TOKEN = "AC" + "c" * 32, "third_token_0123456789abcdef0000"
CLI = [sys.executable, "-m", "callstream"]


def _env() -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }


class Emulator:
    """A real ``callstream emulator`` process; its stderr is kept for the token checks."""

    def __init__(self, cwd: Path, env: dict[str, str], *flags: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [*CLI, "emulator", "--port", str(port), "--cps", "20", *flags],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

        def ready() -> bool:
            try:
                return httpx.get(self.url + "/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=30, what="emulator ready")

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        return err.decode()


def test_emulator_process_serves_every_account_given(tmp_path: Path) -> None:
    emu = Emulator(
        tmp_path,
        _env(),
        "--account",
        f"{SECOND_SID}:{SECOND_TOKEN}",
        "--account",
        f"{THIRD_SID}:{THIRD_TOKEN}",
    )
    url = emu.url
    try:
        for sid, token in ((ACCOUNT_SID, AUTH_TOKEN), (SECOND_SID, SECOND_TOKEN)):
            client = twilio_client(url, sid, token)
            call = client.calls.create(to=TO, from_=FROM, twiml=TWIML)
            assert call.account_sid == sid
            assert [a.sid for a in client.api.accounts.list()] == [sid]
        third = twilio_client(url, THIRD_SID, THIRD_TOKEN)
        sub = third.api.accounts.create(friendly_name="child")
        assert sub.owner_account_sid == THIRD_SID
        # main accounts are separate: one never reaches another
        with pytest.raises(TwilioRestException) as e:
            third.api.accounts(SECOND_SID).fetch()
        assert e.value.code == 20003
        with pytest.raises(TwilioRestException) as e:
            twilio_client(url, SECOND_SID, THIRD_TOKEN).calls.create(to=TO, from_=FROM, twiml=TWIML)
        assert e.value.code == 20003
    finally:
        text = emu.stop()
    # tokens never reach the emulator's log
    assert "ready" in text
    for token in (AUTH_TOKEN, SECOND_TOKEN, THIRD_TOKEN, sub.auth_token):
        assert token not in text


def test_emulator_serves_the_accounts_file_without_the_shortcut(tmp_path: Path) -> None:
    """What ``callstream up`` runs with an accounts file alone: the file's first account is
    the emulator's main one, the others beside it; the tokens come from the file (one
    through an environment variable), never from a command line."""
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[[account]]\nsid = "{SECOND_SID}"\nauth_token_env = "SECOND"\n\n'
        f'[[account]]\nsid = "{THIRD_SID}"\nauth_token = "{THIRD_TOKEN}"\n'
    )
    env = {"PATH": "/usr/bin:/bin", "CALLSTREAM_ACCOUNTS": str(accounts), "SECOND": SECOND_TOKEN}
    emu = Emulator(tmp_path, env)
    try:
        for sid, token in ((SECOND_SID, SECOND_TOKEN), (THIRD_SID, THIRD_TOKEN)):
            call = twilio_client(emu.url, sid, token).calls.create(to=TO, from_=FROM, twiml=TWIML)
            assert call.account_sid == sid
        with pytest.raises(TwilioRestException) as e:
            twilio_client(emu.url, SECOND_SID, THIRD_TOKEN).calls.create(
                to=TO, from_=FROM, twiml=TWIML
            )
        assert e.value.code == 20003
    finally:
        text = emu.stop()
    assert SECOND_TOKEN not in text and THIRD_TOKEN not in text


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("AC" + "b" * 32, "must be SID:TOKEN"),
        ("ACnope:tok", "'AC' followed by 32 hex digits"),
        ("a-secret-token", "'AC' followed by 32 hex digits"),  # the SID forgotten
        ("a-secret-token:" + "AC" + "b" * 32, "'AC' followed by 32 hex digits"),  # reversed
        ("AC" + "b" * 32 + ":", "token must be non-empty"),
        ("AC" + "b" * 32 + ":two words", "token must be non-empty"),
        (f"{ACCOUNT_SID}:another", "given twice"),
    ],
)
def test_bad_account_values_are_one_line_and_exit_2(value: str, says: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "emulator", "--port", str(free_port()), "--account", value],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("callstream emulator: error: "), lines
    assert says in lines[0]
    for part in ("two words", "another", "secret", "nope"):  # nothing but a SID echoed
        assert part not in lines[0]


def test_the_same_sid_twice_is_refused(tmp_path: Path) -> None:
    value = f"{SECOND_SID}:{SECOND_TOKEN}"
    done = subprocess.run(
        [*CLI, "emulator", "--port", str(free_port()), "--account", value, "--account", value],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and b"given twice" in done.stderr
    assert SECOND_TOKEN.encode() not in done.stderr
