"""Simulated time for one call leg: real time multiplied by ``speed``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class LegClock:
    """Offsets are simulated seconds since the leg started; ``wall_at`` turns one into the
    Unix time reported in ``Timestamp``, ``start_time`` and ``end_time`` (so with
    ``speed`` above 1 those run ahead of the real clock, consistently with durations)."""

    speed: float
    origin_wall: float = field(default_factory=time.time)
    origin_mono: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return (time.monotonic() - self.origin_mono) * self.speed

    def wall_at(self, offset: float) -> float:
        return self.origin_wall + offset

    async def sleep_until(self, offset: float) -> None:
        delay = self.origin_mono + offset / self.speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def child(self) -> LegClock:
        """A clock for a leg started now by this one (a ``<Dial>`` child)."""
        return LegClock(self.speed, self.wall_at(self.elapsed()))
