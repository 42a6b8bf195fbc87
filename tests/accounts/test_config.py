"""CALLSTREAM_ACCOUNTS: the [[account]] file, the shortcut first, and one-line refusals
that name the file, the line and the problem (never a token)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callstream.accounts import Account, configured_accounts, require_accounts
from callstream.settings import Settings, SettingsError

A = "AC" + "a" * 32
B = "AC" + "b" * 32
C = "AC" + "c" * 32
SECRET = "tok-secret-0123456789"
HEAD = f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\n'


def settings(path: Path | None, **kw: object) -> Settings:
    env = {}
    if path is not None:
        env["CALLSTREAM_ACCOUNTS"] = str(path)
    return Settings.from_env(env, **kw)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "accounts.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shortcut_comes_first_then_the_file(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        f"""
[[account]]
sid = "{B}"
auth_token_env = "B_TOKEN"
secondary_auth_token = "b-second"
cps = 2.5
friendly_name = "Brand B"

[[account]]
sid = "{C}"
auth_token = "c-token"
cps = 3
""",
    )
    s = settings(p, twilio_account_sid=A, twilio_auth_token="a-token")
    got = configured_accounts(s, {"B_TOKEN": "b-token"})
    assert [a.sid for a in got] == [A, B, C]
    assert got[0] == Account(A, "a-token")
    assert got[1] == Account(B, "b-token", "b-second", 2.5, "Brand B", source="file")
    assert got[1].tokens == ("b-token", "b-second")
    assert got[2].cps == 3.0 and got[2].tokens == ("c-token",)


def test_no_account_at_all_is_refused() -> None:
    with pytest.raises(SettingsError, match="no Twilio account is configured"):
        require_accounts(settings(None))


def test_repr_and_public_view_hold_no_token() -> None:
    a = Account(A, SECRET, SECRET + "2", parent_sid=B, source="discovered")
    assert SECRET not in repr(a)
    assert SECRET not in str(a.public(1.0))
    assert a.public(1.0)["cps"] == 1.0


BAD = [
    ("missing", None, "no such file"),
    ("syntax", '[[account]]\nsid = "AC\n', "not valid TOML"),
    (
        "top",
        f'region = "x"\n[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\n',
        "line 1: unknown key 'region'",
    ),
    (
        "unknown",
        f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\ncsp = 1\n',
        "line 4: unknown key 'csp'",
    ),
    ("badsid", f'[[account]]\nsid = "AC123"\nauth_token = "{SECRET}"\n', "line 2: sid must be"),
    (
        "nosid",
        f'[[account]]\nauth_token = "{SECRET}"\n',
        "line 1: the [[account]] table has no 'sid'",
    ),
    (
        "notoken",
        f'[[account]]\nsid = "{A}"\n',
        "line 1: the [[account]] table has neither auth_token_env nor auth_token",
    ),
    (
        "both",
        f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\nauth_token_env = "X"\n',
        "line 4: give auth_token or auth_token_env, not both",
    ),
    (
        "unset",
        f'[[account]]\nsid = "{A}"\nauth_token_env = "NOPE_UNSET"\n',
        "line 3: environment variable NOPE_UNSET is not set",
    ),
    (
        "empty",
        f'[[account]]\nsid = "{A}"\nauth_token_env = "EMPTY_TOKEN"\n',
        "line 3: environment variable EMPTY_TOKEN is empty",
    ),
    (
        "emptydirect",
        f'[[account]]\nsid = "{A}"\nauth_token = "  "\n',
        "line 3: auth_token must be a non-empty string",
    ),
    (
        "dup",
        HEAD + "\n" + HEAD,
        "line 6: account AC" + "a" * 32 + " is given twice",
    ),
    (
        "cps0",
        f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\ncps = 0\n',
        "line 4: cps must be above 0",
    ),
    (
        "cpsneg",
        f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\ncps = -1.5\n',
        "line 4: cps must be above 0",
    ),
    (
        "cpsnan",
        f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\ncps = nan\n',
        "line 4: cps must be above 0",
    ),
    (
        "cpsstr",
        f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\ncps = "2"\n',
        "line 4: cps must be a number",
    ),
    (
        "cpsbool",
        f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\ncps = true\n',
        "line 4: cps must be a number",
    ),
    (
        "secondunset",
        HEAD + 'secondary_auth_token_env = "NOPE_UNSET"\n',
        "line 4: environment variable NOPE_UNSET is not set",
    ),
    (
        "name",
        f'[[account]]\nsid = "{A}"\nauth_token = "{SECRET}"\nfriendly_name = 3\n',
        "line 4: friendly_name must be a string",
    ),
    ("nottables", 'account = "x"\n', "line 1: 'account' must be [[account]] tables"),
]


@pytest.mark.parametrize(("name", "text", "problem"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_file_is_refused_in_one_line(
    tmp_path: Path, name: str, text: str | None, problem: str
) -> None:
    p = tmp_path / "accounts.toml" if text is None else write(tmp_path, text)
    with pytest.raises(SettingsError) as err:
        configured_accounts(settings(p), {"EMPTY_TOKEN": ""})
    msg = str(err.value)
    assert msg.startswith(f"CALLSTREAM_ACCOUNTS: {p}")
    assert problem in msg
    assert "\n" not in msg and SECRET not in msg


def test_the_shortcut_and_the_file_may_not_name_one_account_twice(tmp_path: Path) -> None:
    p = write(tmp_path, f'[[account]]\nsid = "{A}"\nauth_token = "x"\n')
    with pytest.raises(SettingsError, match="given twice"):
        configured_accounts(settings(p, twilio_account_sid=A, twilio_auth_token="y"))


def test_refresh_setting() -> None:
    assert Settings.from_env({"CALLSTREAM_ACCOUNTS_REFRESH": "0"}).discovery_every_s == 0
    assert Settings.from_env({"CALLSTREAM_ACCOUNTS_REFRESH": "60"}).discovery_every_s == 60
    # the single-account shortcut alone makes no REST call; an accounts file lists
    assert Settings.from_env({}).discovery_every_s == 0
    assert Settings.from_env({"CALLSTREAM_ACCOUNTS": "a.toml"}).discovery_every_s == 300
    for bad in ("5", "-1", "x", "inf"):
        with pytest.raises(SettingsError, match="CALLSTREAM_ACCOUNTS_REFRESH"):
            Settings.from_env({"CALLSTREAM_ACCOUNTS_REFRESH": bad})
