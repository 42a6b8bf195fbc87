"""The emulator's configuration: one frozen dataclass, built by the CLI or by tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from emulator.chaos import Chaos
from emulator.event_sink import SinkConfig
from emulator.faults import FaultSettings
from emulator.scenarios import Scenarios


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything :func:`emulator.app.create_app` needs.

    ``cps`` is calls per second per account, measured where the emulator receives the
    creates; ``speed`` compresses the simulated call time (ringing, talking, ``<Say>``)
    but never the CPS pacing. ``seed`` makes call SIDs, chaos and fault fractions
    repeatable.
    """

    account_sid: str
    auth_token: str
    cps: float = 1.0
    speed: float = 1.0
    scenarios: Scenarios = field(default_factory=Scenarios)
    chaos: Chaos = field(default_factory=Chaos)
    faults: FaultSettings = field(default_factory=FaultSettings)
    seed: int | None = None
    # More accounts (sid -> auth token), each with its own CPS queue.
    extra_accounts: Mapping[str, str] = field(default_factory=dict)
    # Event Streams: mirror call-progress callbacks as CloudEvents to this sink
    event_sink: SinkConfig | None = None

    def __post_init__(self) -> None:
        if not (self.cps > 0):
            raise ValueError("cps must be above 0")
        if not (self.speed > 0):
            raise ValueError("speed must be above 0")

    @property
    def accounts(self) -> dict[str, str]:
        """Every main account, sid -> auth token; the one from the environment first."""
        extra = {sid: t for sid, t in self.extra_accounts.items() if sid != self.account_sid}
        return {self.account_sid: self.auth_token, **extra}
