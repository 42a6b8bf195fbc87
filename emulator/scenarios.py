"""What happens when a number is dialed: outcomes, and the scenario file that maps
destination numbers to them.

A scenario file is JSON or TOML (chosen by the ``.json`` / ``.toml`` suffix)::

    [default]                      # any number not named below (optional)
    outcome = "answered"
    ring = 1.0
    talk = 2.0

    [numbers."+15550001000"]
    outcome = "busy"

    [numbers."+1555000200*"]       # shell-style pattern; exact numbers win over patterns
    outcome = "failed"
    sip_code = 503

    [clients.bob]                  # the Voice SDK client client:bob (patterns work too)
    outcome = "no-answer"

JSON has the same shape: ``{"default": {...}, "numbers": {"+15550001000": {...}},
"clients": {"bob": {...}}}``. A client entry is the same as a ``numbers."client:bob"`` one.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callstream import clients

OUTCOMES = ("answered", "machine", "busy", "no-answer", "failed")
ANSWERED_BY = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)


class ScenarioError(ValueError):
    """A scenario file or entry is malformed; the message names the entry."""


@dataclass(frozen=True)
class Outcome:
    """One destination's behaviour, in simulated seconds.

    - ``answered``: rings ``ring`` s, is answered, talks ``talk`` s, hangs up (``completed``);
      a ``ring`` longer than the call's ``Timeout`` turns it into ``no-answer``.
    - ``machine``: like ``answered`` but a machine picks up; ``AnsweredBy`` is
      ``answered_by`` (default ``machine_start``) when the create asked for
      ``MachineDetection``.
    - ``busy``: ends ``busy`` after ``ring`` s (SIP 486), no ``ringing`` event.
    - ``no-answer``: rings until the call's ``Timeout`` (SIP 487).
    - ``failed``: ends ``failed`` after ``ring`` s with ``sip_code`` (default 404).
    """

    outcome: str = "answered"
    ring: float = 1.0
    talk: float = 2.0
    sip_code: int | None = None
    answered_by: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ScenarioError(
                f"outcome must be one of {', '.join(OUTCOMES)}, not {self.outcome!r}"
            )
        if self.ring < 0 or self.talk < 0:
            raise ScenarioError("ring and talk must not be negative")
        if self.answered_by is not None and self.answered_by not in ANSWERED_BY:
            raise ScenarioError(f"answered_by must be one of {', '.join(ANSWERED_BY)}")
        if self.sip_code is not None and not 100 <= self.sip_code <= 699:
            raise ScenarioError("sip_code must be a SIP status code (100-699)")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> Outcome:
        allowed = {"outcome", "ring", "talk", "sip_code", "answered_by"}
        unknown = set(data) - allowed
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            return cls(
                outcome=str(data.get("outcome", "answered")),
                ring=float(data.get("ring", 1.0)),
                talk=float(data.get("talk", 2.0)),
                sip_code=None if data.get("sip_code") is None else int(data["sip_code"]),
                answered_by=None if data.get("answered_by") is None else str(data["answered_by"]),
            )
        except ScenarioError as e:
            raise ScenarioError(f"{where}: {e}") from None
        except (TypeError, ValueError) as e:
            raise ScenarioError(f"{where}: {e}") from None


DEFAULT_OUTCOME = Outcome()


def _is_pattern(key: str) -> bool:
    return any(c in key for c in "*?[")


@dataclass(frozen=True)
class Scenarios:
    """Destination number (or shell-style pattern) -> :class:`Outcome`."""

    numbers: Mapping[str, Outcome] = field(default_factory=dict)
    default: Outcome = DEFAULT_OUTCOME

    def outcome_for(self, number: str) -> Outcome:
        exact = self.numbers.get(number)
        if exact is not None:
            return exact
        for pattern, outcome in self.numbers.items():
            if _is_pattern(pattern) and fnmatch.fnmatchcase(number, pattern):
                return outcome
        return self.default

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Scenarios:
        unknown = set(data) - {"default", "numbers", "clients"}
        if unknown:
            raise ScenarioError(f"unknown top-level key(s) {', '.join(sorted(unknown))}")
        default = DEFAULT_OUTCOME
        if "default" in data:
            if not isinstance(data["default"], Mapping):
                raise ScenarioError("'default' must be a table/object")
            default = Outcome.from_mapping(data["default"], "default")
        numbers: dict[str, Outcome] = {}
        raw = data.get("numbers", {})
        if not isinstance(raw, Mapping):
            raise ScenarioError("'numbers' must be a table/object")
        for number, entry in raw.items():
            if not isinstance(entry, Mapping):
                raise ScenarioError(f"numbers.{number} must be a table/object")
            numbers[str(number)] = Outcome.from_mapping(entry, f"numbers.{number}")
        raw_clients = data.get("clients", {})
        if not isinstance(raw_clients, Mapping):
            raise ScenarioError("'clients' must be a table/object")
        for name, entry in raw_clients.items():
            where = f"clients.{name}"
            if not (_is_pattern(name) or clients.is_identity(name)):
                raise ScenarioError(f"{where}: not a client identity (letters, digits, _ . - @)")
            if not isinstance(entry, Mapping):
                raise ScenarioError(f"{where} must be a table/object")
            numbers[clients.address(name)] = Outcome.from_mapping(entry, where)
        return cls(numbers=numbers, default=default)

    @classmethod
    def load(cls, path: str | Path) -> Scenarios:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise ScenarioError(f"cannot read scenario file {p}: {e.strerror}") from None
        try:
            if p.suffix.lower() == ".toml":
                data: Any = tomllib.loads(text)
            elif p.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                raise ScenarioError(f"scenario file {p} must end in .json or .toml")
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
            raise ScenarioError(f"scenario file {p} is not valid: {e}") from None
        if not isinstance(data, Mapping):
            raise ScenarioError(f"scenario file {p} must hold an object/table")
        try:
            return cls.from_mapping(data)
        except ScenarioError as e:
            raise ScenarioError(f"scenario file {p}: {e}") from None
