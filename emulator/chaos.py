"""Chaos switches for status-callback delivery, all off by default.

Each decision for a callback draws from its own random generator seeded with
``(seed, CallSid, SequenceNumber)``, so a run with the same seed and the same calls makes
the same decisions whatever the concurrency.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Chaos:
    """Probabilities are 0..1; times are real seconds (not compressed by ``speed``).

    - ``duplicate``: chance that a callback is delivered twice (same parameters, same
      signature, same idempotency token).
    - ``reorder``: each callback of a leg is delivered after a random delay up to this many
      seconds, independently of the others, so they can arrive out of order. Without it
      a leg's callbacks are delivered one after another, in ``SequenceNumber`` order.
    - ``drop``: chance that a callback is never delivered (Twilio's 15002 queue timeout).
      It still takes its ``SequenceNumber``, so the receiver sees a gap.
    - ``connect_fail``: chance that each delivery attempt fails as if the receiver refused
      the connection (no request reaches it); the retry policy then applies.
    - ``latency``: extra delay before each delivery attempt (a slow network/receiver).
    """

    duplicate: float = 0.0
    reorder: float = 0.0
    drop: float = 0.0
    connect_fail: float = 0.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicate", "drop", "connect_fail"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"chaos {name} must be a probability between 0 and 1")
        for name in ("reorder", "latency"):
            if getattr(self, name) < 0:
                raise ValueError(f"chaos {name} must not be negative")

    @property
    def active(self) -> bool:
        return any((self.duplicate, self.reorder, self.drop, self.connect_fail, self.latency))


@dataclass(frozen=True)
class DeliveryPlan:
    """What chaos decided for one callback."""

    copies: int  # 0 = dropped, 1 = normal, 2 = duplicated
    delays: tuple[float, ...]  # real seconds to wait before each copy
    rng: random.Random  # for per-attempt decisions (connect_fail)


def plan_delivery(chaos: Chaos, seed: int | None, call_sid: str, sequence: int) -> DeliveryPlan:
    rng = random.Random(f"{seed}:{call_sid}:{sequence}") if seed is not None else random.Random()
    if chaos.drop and rng.random() < chaos.drop:
        return DeliveryPlan(0, (), rng)
    copies = 2 if chaos.duplicate and rng.random() < chaos.duplicate else 1
    delays = tuple(rng.uniform(0.0, chaos.reorder) if chaos.reorder else 0.0 for _ in range(copies))
    return DeliveryPlan(copies, delays, rng)
