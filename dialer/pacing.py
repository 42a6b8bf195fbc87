"""The one-call-per-interval rule, as plain arithmetic: no clock is read here.

Within one process, sends are spaced on the monotonic clock by two bounds, and the later
one wins:

* ``start + 1/CPS + margin``: the next create may start that long after the previous one
  started (margin 5 ms; 15 ms when causal spacing is off, since it then is all that
  absorbs a previous request that took longer than usual to reach the receiver);
* ``answer + 1/CPS`` (causal spacing): the previous request was received *before* its
  answer came back, and the next one cannot be received before it is sent, so starting
  the next one ``1/CPS`` after the previous answer guarantees the gap where it is
  received, whatever the network or the receiver's scheduling did. On loopback (the
  emulator) answers take a few ms, so it costs little; against a distant API it adds the
  part of the round trip above the margin to each gap (``causal=False`` turns it off for
  such deployments: real Twilio queues creates over the rate rather than refusing them).

Across processes (restart, rebalance) the only shared clock is the wall clock: the new
owner of an account reads the last ``sent_at`` from the ledger and waits until
``sent_at + 1/CPS + handover_margin``. The larger handover margin covers the time between
the ledger's planned ``sent_at`` and the real start of that request, and small clock
differences between hosts; it is paid once per handover.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

CAUSAL_MARGIN_S = 0.005  # with causal spacing the margin only covers clock-rate details
START_MARGIN_S = 0.015  # without it, the margin is all that absorbs network jitter
DEFAULT_MARGIN_S = CAUSAL_MARGIN_S
DEFAULT_HANDOVER_MARGIN_S = 0.1


@dataclass(frozen=True)
class Spacing:
    """How far apart two creates for one account must start."""

    interval_s: float
    margin_s: float = DEFAULT_MARGIN_S
    handover_margin_s: float = DEFAULT_HANDOVER_MARGIN_S
    causal: bool = True  # also space from the previous answer (see the module docs)

    @classmethod
    def for_cps(cls, cps: float, margin_s: float | None = None, causal: bool = True) -> Spacing:
        """``margin_s`` defaults to 5 ms with causal spacing and 15 ms without."""
        if cps <= 0:
            raise ValueError("cps must be positive")
        if margin_s is None:
            margin_s = CAUSAL_MARGIN_S if causal else START_MARGIN_S
        return cls(interval_s=1.0 / cps, margin_s=margin_s, causal=causal)

    @property
    def step_s(self) -> float:
        """Monotonic distance between two starts in one process."""
        return self.interval_s + self.margin_s

    def handover_ready(self, last_sent_wall: float, now_wall: float, now_mono: float) -> float:
        """The monotonic time from which a send may start, given the last send recorded in
        the ledger on the wall clock (possibly by another process)."""
        wait = last_sent_wall + self.interval_s + self.handover_margin_s - now_wall
        return now_mono + max(0.0, wait)


@dataclass
class Pacer:
    """Per-account earliest start times on this process's monotonic clock, each account
    spaced by its own :class:`Spacing` (``spacing_for``; default: ``spacing`` for all)."""

    spacing: Spacing
    spacing_for: Callable[[str], Spacing] | None = None
    _not_before: dict[str, float] = field(default_factory=dict)

    def spacing_of(self, account: str) -> Spacing:
        return self.spacing if self.spacing_for is None else self.spacing_for(account)

    def ready_at(self, account: str) -> float | None:
        """The earliest monotonic time the next create for ``account`` may start, or None
        when nothing constrains it."""
        return self._not_before.get(account)

    def sent(self, account: str, started_mono: float) -> None:
        """A create for ``account`` started at ``started_mono``."""
        self._push(account, started_mono + self.spacing_of(account).step_s)

    def answered(self, account: str, answered_mono: float) -> None:
        """The answer to the create for ``account`` came back at ``answered_mono`` (or the
        attempt ended then without one)."""
        spacing = self.spacing_of(account)
        if spacing.causal:
            self._push(account, answered_mono + spacing.interval_s)

    def _push(self, account: str, t: float) -> None:
        self._not_before[account] = max(t, self._not_before.get(account, t))

    def inherit(
        self, account: str, last_sent_wall: float, now_wall: float, now_mono: float
    ) -> None:
        """Honour a send recorded in the ledger (by this or another process)."""
        spacing = self.spacing_of(account)
        self._push(account, spacing.handover_ready(last_sent_wall, now_wall, now_mono))
