"""Settings from environment variables, overridable by CLI flags, with one-line errors.

Every variable of the public contract is read here and nowhere else. A bad value raises
:class:`SettingsError` whose message names the variable and what is wrong; the CLI prints
it and exits non-zero.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from callstream import clients, topics
from callstream.errors import StartupError
from callstream.ids import is_account_sid, is_e164


class SettingsError(StartupError, ValueError):
    """A setting is missing or malformed; the message is one sentence for a person."""


_HOSTPORT = re.compile(r"\[?[A-Za-z0-9_.:-]+\]?:[0-9]{1,5}")


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap_servers: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    public_url: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    db: Path = Path("callstream.db")
    spool: Path = Path("callstream-spool.db")
    api_token: str | None = None
    cps: float = 1.0
    forward_to: str | None = None
    # Extensions of the v1 contract
    topic_prefix: str = ""
    kafka_profile: str | None = None  # "tansu" | "kafka"; None: detect from the cluster id
    log_level: str = "INFO"
    # Voice SDK clients (docs/voip.md)
    caller_id: str | None = None
    dial_allow: tuple[str, ...] = ()  # E.164 prefixes a client may dial; empty: none
    twiml_app_sid: str | None = None
    twilio_api_key: str | None = None
    twilio_api_secret: str | None = None
    archive: Path = Path("callstream-archive.db")
    # set by 'callstream up' on the embedded broker: ingest answers 204 only once the
    # archive holds the callback (the broker keeps it in memory only)
    archive_ack: bool = False
    # the reconciler: seconds of silence before it asks Twilio about a call that has not
    # ended (docs/reconciliation.md, "Defaults and why")
    reconcile_after: float = 120.0
    # Several accounts (docs/operations.md, Accounts): a TOML file of [[account]] tables,
    # and how often each configured account's subaccounts are listed (0: never; unset:
    # every 300 s with an accounts file, never with the single-account shortcut alone)
    accounts_file: Path | None = None
    accounts_refresh_s: float | None = None
    # calls the projector keeps in memory (docs/projector.md, "The cache of calls in flight")
    projector_cache_calls: int = 50_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the environment, apply non-None ``overrides`` (CLI flags), validate."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            raw = env.get(var)
            if raw is not None and raw.strip() != "":
                values[name] = raw.strip()
        for name, value in overrides.items():
            if value is not None:
                values[name] = value
        return cls._parse(values)

    @classmethod
    def _parse(cls, values: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        s = cls()
        if "cps" in values:
            values["cps"] = _parse_cps(values["cps"])
        if "reconcile_after" in values:
            values["reconcile_after"] = _parse_reconcile_after(values["reconcile_after"])
        if "archive_ack" in values:
            values["archive_ack"] = _parse_bool("CALLSTREAM_ARCHIVE_ACK", values["archive_ack"])
        if "accounts_refresh_s" in values:
            values["accounts_refresh_s"] = _parse_refresh(values["accounts_refresh_s"])
        if "projector_cache_calls" in values:
            values["projector_cache_calls"] = _parse_cache_calls(values["projector_cache_calls"])
        for p in ("db", "spool", "archive", "accounts_file"):
            if p in values:
                values[p] = Path(values[p])
        if isinstance(values.get("dial_allow"), str):
            values["dial_allow"] = _parse_dial_allow(values["dial_allow"])
        s = replace(s, **values)
        s.validate()
        return s

    def validate(self) -> None:
        if self.kafka_bootstrap_servers is not None:
            for part in self.kafka_bootstrap_servers.split(","):
                if not _HOSTPORT.fullmatch(part.strip()):
                    raise SettingsError(
                        f"KAFKA_BOOTSTRAP_SERVERS: {part.strip()!r} is not host:port "
                        "(expected a comma-separated list such as 'kafka1:9092,kafka2:9092')"
                    )
        if self.twilio_account_sid is not None and not is_account_sid(self.twilio_account_sid):
            raise SettingsError(
                "TWILIO_ACCOUNT_SID must be 'AC' followed by 32 lowercase hex digits"
            )
        if self.public_url is not None:
            _check_base_url("CALLSTREAM_PUBLIC_URL", self.public_url)
        _check_base_url("TWILIO_API_URL", self.twilio_api_url)
        if (
            self.forward_to is not None
            and not is_e164(self.forward_to)
            and not clients.is_client_address(self.forward_to)
        ):
            raise SettingsError(
                f"CALLSTREAM_FORWARD_TO: {self.forward_to[:40]!r} is neither an E.164 number "
                "like +14155550100 nor a Voice SDK client like client:alice"
            )
        self._validate_voip()
        if self.kafka_profile not in (None, "tansu", "kafka"):
            raise SettingsError("CALLSTREAM_KAFKA_PROFILE must be 'tansu' or 'kafka'")
        if not re.fullmatch(r"[A-Za-z0-9._-]*", self.topic_prefix):
            raise SettingsError(
                "CALLSTREAM_TOPIC_PREFIX may only hold letters, digits, '.', '_' and '-'"
            )
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError("CALLSTREAM_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")

    def _validate_voip(self) -> None:
        if self.caller_id is not None and not is_e164(self.caller_id):
            raise SettingsError(
                f"CALLSTREAM_CALLER_ID: {self.caller_id[:40]!r} is not an E.164 number "
                "like +14155550100 (one of the account's numbers)"
            )
        for prefix in self.dial_allow:
            if not _DIAL_PREFIX.fullmatch(prefix):
                raise SettingsError(
                    f"CALLSTREAM_DIAL_ALLOW: {prefix[:40]!r} is not an E.164 prefix "
                    "('+' and 1 to 15 digits, such as +1415 or +44)"
                )
        if self.twiml_app_sid is not None and not _APP_SID.fullmatch(self.twiml_app_sid):
            raise SettingsError(
                "CALLSTREAM_TWIML_APP_SID must be 'AP' followed by 32 lowercase hex digits"
            )
        if self.twilio_api_key is not None and not _API_KEY.fullmatch(self.twilio_api_key):
            raise SettingsError("TWILIO_API_KEY must be 'SK' followed by 32 lowercase hex digits")

    def require(self, *names: str) -> None:
        """Fail with a clear message when a setting a service needs is unset."""
        missing = [ENV_VARS[n] for n in names if getattr(self, n) in (None, "")]
        if missing:
            raise SettingsError(f"{', '.join(missing)} must be set")

    # -- derived values -------------------------------------------------------------
    @property
    def public_base(self) -> str:
        """CALLSTREAM_PUBLIC_URL without its trailing slash."""
        self.require("public_url")
        assert self.public_url is not None
        return self.public_url.rstrip("/")

    @property
    def status_callback_url(self) -> str:
        return self.public_base + "/twilio/status"

    @property
    def discovery_every_s(self) -> float:
        """Seconds between two listings of the configured accounts' subaccounts; 0: none."""
        if self.accounts_refresh_s is not None:
            return self.accounts_refresh_s
        return 300.0 if self.accounts_file is not None else 0.0

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    @property
    def topic_specs(self) -> tuple[topics.TopicSpec, ...]:
        return topics.with_prefix(self.topic_prefix)

    def redacted(self) -> dict[str, Any]:
        """Settings for a log line: secrets replaced by '***' (never log a token)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in SECRET_FIELDS and v:
                v = "***"
            out[f.name] = str(v) if isinstance(v, Path) else v
        return out


ENV_VARS: dict[str, str] = {
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "public_url": "CALLSTREAM_PUBLIC_URL",
    "twilio_api_url": "TWILIO_API_URL",
    "db": "CALLSTREAM_DB",
    "spool": "CALLSTREAM_SPOOL",
    "api_token": "CALLSTREAM_API_TOKEN",
    "cps": "CALLSTREAM_CPS",
    "forward_to": "CALLSTREAM_FORWARD_TO",
    "topic_prefix": "CALLSTREAM_TOPIC_PREFIX",
    "kafka_profile": "CALLSTREAM_KAFKA_PROFILE",
    "log_level": "CALLSTREAM_LOG_LEVEL",
    "caller_id": "CALLSTREAM_CALLER_ID",
    "dial_allow": "CALLSTREAM_DIAL_ALLOW",
    "twiml_app_sid": "CALLSTREAM_TWIML_APP_SID",
    "twilio_api_key": "TWILIO_API_KEY",
    "twilio_api_secret": "TWILIO_API_SECRET",
    "archive": "CALLSTREAM_ARCHIVE",
    "archive_ack": "CALLSTREAM_ARCHIVE_ACK",
    "reconcile_after": "CALLSTREAM_RECONCILE_AFTER",
    "accounts_file": "CALLSTREAM_ACCOUNTS",
    "accounts_refresh_s": "CALLSTREAM_ACCOUNTS_REFRESH",
    "projector_cache_calls": "CALLSTREAM_PROJECTOR_CACHE_CALLS",
}
SECRET_FIELDS = frozenset({"twilio_auth_token", "api_token", "twilio_api_secret"})
# A dial prefix: '+' and at least one digit (a bare '+' would allow every number).
_DIAL_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")
_APP_SID = re.compile(r"AP[0-9a-f]{32}")
_API_KEY = re.compile(r"SK[0-9a-f]{32}")


def _parse_dial_allow(raw: str) -> tuple[str, ...]:
    """``+1415,+44`` -> ('+1415', '+44'); blanks around and between commas are ignored."""
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _number(var: str, raw: Any) -> float:
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{var}: {raw!r} is not a number") from None
    if not math.isfinite(v):
        raise SettingsError(f"{var} must be a finite number, not {raw!r}")
    return v


def _parse_cps(raw: Any) -> float:
    v = _number("CALLSTREAM_CPS", raw)
    if v <= 0 or v > 1000:
        raise SettingsError(
            f"CALLSTREAM_CPS must be a number above 0 and at most 1000, not {raw!r}"
        )
    return v


def _parse_reconcile_after(raw: Any) -> float:
    v = _number("CALLSTREAM_RECONCILE_AFTER", raw)
    if v <= 0 or v > 86400:
        raise SettingsError(
            f"CALLSTREAM_RECONCILE_AFTER must be seconds above 0 and at most 86400, not {raw!r}"
        )
    return v


def _parse_refresh(raw: Any) -> float:
    v = _number("CALLSTREAM_ACCOUNTS_REFRESH", raw)
    if v < 0 or (0 < v < 10) or v > 86400:
        raise SettingsError(
            "CALLSTREAM_ACCOUNTS_REFRESH must be 0 (no discovery) or 10 to 86400 seconds, "
            f"not {raw!r}"
        )
    return v


def _parse_bool(var: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{var} must be 1 or 0 (true or false), not {raw!r}")


def _check_base_url(var: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{var}: {url!r} must be an absolute http:// or https:// URL")
    if parts.query or parts.fragment:
        raise SettingsError(f"{var}: {url!r} must not have a query string or fragment")


def _parse_cache_calls(raw: Any) -> int:
    from callstream.digits import ascii_count

    n = raw if isinstance(raw, int) else ascii_count(str(raw).strip(), 8)
    if n is None or n < 0 or n > 10_000_000:
        raise SettingsError(
            f"CALLSTREAM_PROJECTOR_CACHE_CALLS must be a whole number from 0 to 10000000, "
            f"not {raw!r}"
        )
    return n
