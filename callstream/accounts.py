"""The Twilio accounts callstream serves: ``TWILIO_ACCOUNT_SID``/``TWILIO_AUTH_TOKEN`` (the
single-account shortcut, always first) and the ``[[account]]`` tables of the TOML file
``CALLSTREAM_ACCOUNTS`` names.

A bad file is refused with one line naming the file, the line and the problem
(:class:`callstream.settings.SettingsError`). No message here ever holds a token: an
``auth_token`` value is only ever compared, never quoted, and :class:`Account`'s repr
leaves both tokens out. Discovered subaccounts are added by :mod:`callstream.subaccounts`.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callstream.ids import is_account_sid
from callstream.settings import ENV_VARS, Settings, SettingsError

FILE_VAR = "CALLSTREAM_ACCOUNTS"
KEYS = (
    "sid",
    "auth_token_env",
    "auth_token",
    "secondary_auth_token_env",
    "secondary_auth_token",
    "cps",
    "friendly_name",
)
MAX_CPS = 1000.0


@dataclass(frozen=True, slots=True)
class Account:
    sid: str
    auth_token: str = field(repr=False)
    secondary_auth_token: str | None = field(default=None, repr=False)
    cps: float | None = None  # None: CALLSTREAM_CPS
    friendly_name: str | None = None
    parent_sid: str | None = None  # set for a discovered subaccount
    source: str = "env"  # "env" | "file" | "discovered"
    status: str = "active"  # Twilio's: active | suspended | closed

    @property
    def tokens(self) -> tuple[str, ...]:
        """The tokens a signature by this account may be made with (primary first)."""
        if self.secondary_auth_token:
            return (self.auth_token, self.secondary_auth_token)
        return (self.auth_token,)

    def cps_or(self, default: float) -> float:
        return default if self.cps is None else self.cps

    def public(self, default_cps: float) -> dict[str, Any]:
        """What may be shown to a person (``callstream accounts``): never a token."""
        return {
            "sid": self.sid,
            "friendly_name": self.friendly_name,
            "parent_sid": self.parent_sid,
            "cps": self.cps_or(default_cps),
            "source": self.source,
            "status": self.status,
        }


def configured_accounts(
    settings: Settings, env: Mapping[str, str] | None = None
) -> tuple[Account, ...]:
    """The configured accounts, the shortcut's first; raises SettingsError on a bad file.

    ``env`` is where ``auth_token_env`` names are looked up (default: the process's)."""
    env = os.environ if env is None else env
    out: list[Account] = []
    if settings.twilio_account_sid and settings.twilio_auth_token:
        out.append(Account(settings.twilio_account_sid, settings.twilio_auth_token))
    if settings.accounts_file is not None:
        seen = {a.sid for a in out}
        for acct in load_file(settings.accounts_file, env):
            if acct.sid in seen:
                where = _Where(settings.accounts_file, "")
                raise where.error(
                    None, f"account {acct.sid} is given twice (TWILIO_ACCOUNT_SID and the file)"
                )
            seen.add(acct.sid)
            out.append(acct)
    return tuple(out)


def require_accounts(
    settings: Settings, env: Mapping[str, str] | None = None
) -> tuple[Account, ...]:
    """:func:`configured_accounts`, refusing an empty list (a service needs one)."""
    accounts = configured_accounts(settings, env)
    if not accounts:
        raise SettingsError(
            "no Twilio account is configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, "
            f"or {FILE_VAR} to a TOML file of [[account]] tables"
        )
    return accounts


def require_settings(settings: Settings, *names: str) -> None:
    """:meth:`Settings.require` for a service that needs an account as well: without an
    accounts file, the unset ones of TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are named
    among the missing settings (first)."""
    shortcut: list[str] = []
    if settings.accounts_file is None:
        shortcut = [
            n for n in ("twilio_auth_token", "twilio_account_sid") if not getattr(settings, n)
        ]
    if not shortcut:
        settings.require(*names)
        return
    missing = [ENV_VARS[n] for n in (*shortcut, *names) if getattr(settings, n) in (None, "")]
    raise SettingsError(f"{', '.join(missing)} must be set (or {FILE_VAR} for several accounts)")


def load_file(path: Path, env: Mapping[str, str]) -> list[Account]:
    """Read and check the accounts file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{FILE_VAR}: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "not readable as UTF-8"
        raise SettingsError(f"{FILE_VAR}: {path}: cannot read the file ({reason})") from None
    where = _Where(path, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends "(at line L, column C)"; it quotes no value
        raise SettingsError(f"{FILE_VAR}: {path}: not valid TOML: {e}") from None
    extra = sorted(k for k in doc if k != "account")
    if extra:
        raise where.error(
            where.top_key(extra[0]), f"unknown key {extra[0]!r} (expected [[account]] tables)"
        )
    tables = doc.get("account", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise where.error(where.top_key("account"), "'account' must be [[account]] tables")
    out: list[Account] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(tables):
        acct = _account(where, i, table, env)
        if acct.sid in seen:
            raise where.error(
                where.key(i, "sid"),
                f"account {acct.sid} is given twice (also table {seen[acct.sid] + 1})",
            )
        seen[acct.sid] = i
        out.append(acct)
    return out


def _account(where: _Where, i: int, t: dict[str, Any], env: Mapping[str, str]) -> Account:
    for k in t:
        if k not in KEYS:
            raise where.error(where.key(i, k), f"unknown key {k!r} (known: {', '.join(KEYS)})")
    sid = t.get("sid")
    if sid is None:
        raise where.error(where.table(i), "the [[account]] table has no 'sid'")
    if not isinstance(sid, str) or not is_account_sid(sid):
        raise where.error(
            where.key(i, "sid"), "sid must be 'AC' followed by 32 lowercase hex digits"
        )
    token = _token(where, i, t, "auth_token", env, required=True)
    assert token is not None
    secondary = _token(where, i, t, "secondary_auth_token", env, required=False)
    cps = t.get("cps")
    if cps is not None:
        if isinstance(cps, bool) or not isinstance(cps, int | float):
            raise where.error(where.key(i, "cps"), "cps must be a number (calls per second)")
        if not math.isfinite(cps) or cps <= 0 or cps > MAX_CPS:
            raise where.error(where.key(i, "cps"), f"cps must be above 0 and at most {MAX_CPS:g}")
        cps = float(cps)
    name = t.get("friendly_name")
    if name is not None and not isinstance(name, str):
        raise where.error(where.key(i, "friendly_name"), "friendly_name must be a string")
    return Account(sid, token, secondary, cps, name, source="file")


def _token(
    where: _Where, i: int, t: dict[str, Any], key: str, env: Mapping[str, str], *, required: bool
) -> str | None:
    direct, var = t.get(key), t.get(key + "_env")
    if direct is not None and var is not None:
        raise where.error(where.key(i, key + "_env"), f"give {key} or {key}_env, not both")
    if direct is not None:
        if not isinstance(direct, str) or not direct.strip():
            raise where.error(where.key(i, key), f"{key} must be a non-empty string")
        return direct.strip()
    if var is not None:
        if not isinstance(var, str) or not _ENV_NAME.fullmatch(var):
            raise where.error(
                where.key(i, key + "_env"), f"{key}_env must name an environment variable"
            )
        value = env.get(var, "").strip()
        if not value:
            state = "is empty" if var in env else "is not set"
            raise where.error(where.key(i, key + "_env"), f"environment variable {var} {state}")
        return value
    if required:
        raise where.error(where.table(i), f"the [[account]] table has neither {key}_env nor {key}")
    return None


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Where:
    """Line numbers for messages: tomllib gives none for a well-formed file, so the lines
    of the ``[[account]]`` headers and of ``key =`` are found in the text."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.headers = [
            n for n, line in enumerate(self.lines, 1) if re.match(r"\s*\[\[\s*account\s*\]\]", line)
        ]

    def table(self, i: int) -> int | None:
        return self.headers[i] if i < len(self.headers) else None

    def key(self, i: int, key: str) -> int | None:
        start = self.table(i)
        if start is None:
            return None
        end = self.headers[i + 1] if i + 1 < len(self.headers) else len(self.lines) + 1
        pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for n in range(start + 1, end):
            if pattern.match(self.lines[n - 1]):
                return n
        return start

    def top_key(self, key: str) -> int | None:
        as_table = re.compile(rf"\s*\[+\s*[\"']?{re.escape(key)}[\"']?\s*[.\]]")
        as_key = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
        end = self.headers[0] if self.headers else len(self.lines) + 1
        for n, line in enumerate(self.lines, 1):
            if as_table.match(line) or (n < end and as_key.match(line)):
                return n
        return None

    def error(self, line: int | None, problem: str) -> SettingsError:
        at = f", line {line}" if line is not None else ""
        return SettingsError(f"{FILE_VAR}: {self.path}{at}: {problem}")
