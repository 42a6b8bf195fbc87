"""A local Twilio Voice: the REST calls API, CPS queueing, call lifecycles, signed status
callbacks, inbound ``<Dial>`` calls, and chaos switches. See ``docs/emulator.md``.

The public names are imported lazily so that ``callstream --help`` (which imports
``emulator.cli``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.app import create_app
    from emulator.chaos import Chaos
    from emulator.config import EmulatorConfig
    from emulator.faults import FaultSettings
    from emulator.scenarios import Outcome, Scenarios

__all__ = ["Chaos", "EmulatorConfig", "FaultSettings", "Outcome", "Scenarios", "create_app"]

_HOMES = {
    "create_app": "emulator.app",
    "Chaos": "emulator.chaos",
    "EmulatorConfig": "emulator.config",
    "FaultSettings": "emulator.faults",
    "Outcome": "emulator.scenarios",
    "Scenarios": "emulator.scenarios",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'emulator' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
