"""Faults injected into the REST create, so a client's retry logic can be tested.

Counted faults fire first (all ``create_429``, then ``create_500``, then
``create_500_created``, then ``create_503``); then each request draws against the
``*_rate`` fractions. A 429 answers Twilio's 20429; a 500/503 answers 20500/20503 and does
not create the call, except ``create_500_created``, which creates the call and then answers
500 (the "in doubt" case: the client cannot know the call exists).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("create_429", "create_500", "create_500_created", "create_503")
RATE_KINDS = ("create_429_rate", "create_500_rate")


@dataclass(frozen=True)
class FaultSettings:
    create_429: int = 0
    create_500: int = 0
    create_500_created: int = 0
    create_503: int = 0
    create_429_rate: float = 0.0
    create_500_rate: float = 0.0

    def __post_init__(self) -> None:
        for k in FAULT_KINDS:
            if getattr(self, k) < 0:
                raise ValueError(f"{k} must not be negative")
        for k in RATE_KINDS:
            if not 0.0 <= getattr(self, k) <= 1.0:
                raise ValueError(f"{k} must be between 0 and 1")

    @classmethod
    def from_json(cls, data: Any) -> FaultSettings:
        """From the admin endpoint's JSON object; raises ValueError with a sentence."""
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(data) - set(FAULT_KINDS) - set(RATE_KINDS)
        if unknown:
            raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for k in FAULT_KINDS:
            if k in data:
                v = data[k]
                if not isinstance(v, int) or isinstance(v, bool):
                    raise ValueError(f"{k} must be a whole number")
                values[k] = v
        for k in RATE_KINDS:
            if k in data:
                v = data[k]
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise ValueError(f"{k} must be a number between 0 and 1")
                values[k] = float(v)
        return cls(**values)


class Faults:
    """The live fault state: counters that run down, and fractions."""

    def __init__(self, settings: FaultSettings, seed: int | None) -> None:
        self._rng = random.Random(f"faults:{seed}") if seed is not None else random.Random()
        self.settings = settings
        self._left = {k: getattr(settings, k) for k in FAULT_KINDS}

    def replace(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._left = {k: getattr(settings, k) for k in FAULT_KINDS}

    def state(self) -> dict[str, Any]:
        return {**asdict(self.settings), **self._left}

    def next_fault(self) -> str | None:
        """The fault for this create request: ``"429"``, ``"500"``, ``"500-created"``,
        ``"503"`` or None."""
        for k, fault in (
            ("create_429", "429"),
            ("create_500", "500"),
            ("create_500_created", "500-created"),
            ("create_503", "503"),
        ):
            if self._left[k] > 0:
                self._left[k] -= 1
                return fault
        s = self.settings
        if s.create_429_rate and self._rng.random() < s.create_429_rate:
            return "429"
        if s.create_500_rate and self._rng.random() < s.create_500_rate:
            return "500"
        return None
