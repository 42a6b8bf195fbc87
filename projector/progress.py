"""The consumer's progress: what ``/readyz`` and ``/metrics`` report about the projector.

The consumer updates one :class:`Progress` as it applies batches. The HTTP API runs in its
own process (see :mod:`projector.api_process`), so the consumer's process sends a
:meth:`Progress.snapshot` several times a second and the API process folds each one into
its own copy with :meth:`Progress.update`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# A consumer that has not finished a poll for this long is stuck (a hung disk, a process
# paused by SIGSTOP or a debugger): /readyz says so instead of reporting stale figures.
STALLED_AFTER_S = 15.0


@dataclass
class Progress:
    """What the API and the metrics read about the consumer."""

    partitions: list[int] = field(default_factory=list)
    stored: dict[int, int] = field(default_factory=dict)  # next offset in SQLite
    high: dict[int, int] = field(default_factory=dict)  # broker's high watermark
    records: int = 0
    events: int = 0
    rejected: int = 0
    batches: int = 0
    newest_received_at: str | None = None
    polled_at: float | None = None  # wall-clock time the consumer last finished a poll
    fatal: str | None = None

    def lag(self) -> dict[int, int | None]:
        return {
            p: (None if p not in self.high else max(0, self.high[p] - self.stored.get(p, 0)))
            for p in self.partitions
        }

    def caught_up(self) -> bool:
        if self.fatal is not None or not self.partitions:
            return False
        return all(v == 0 for v in self.lag().values())

    def poll_age_s(self, now: float | None = None) -> float | None:
        if self.polled_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.polled_at)

    def stalled(self, now: float | None = None) -> bool:
        age = self.poll_age_s(now)
        return age is not None and age > STALLED_AFTER_S

    def newest_age_s(self) -> float | None:
        if self.newest_received_at is None:
            return None
        try:
            t = datetime.fromisoformat(self.newest_received_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return max(0.0, (datetime.now(UTC) - t).total_seconds())

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy (partition keys become strings, as JSON requires)."""
        return {
            "partitions": list(self.partitions),
            "stored": {str(p): o for p, o in self.stored.items()},
            "high": {str(p): o for p, o in self.high.items()},
            "records": self.records,
            "events": self.events,
            "rejected": self.rejected,
            "batches": self.batches,
            "newest_received_at": self.newest_received_at,
            "polled_at": self.polled_at,
            "fatal": self.fatal,
        }

    def update(self, snap: dict[str, Any]) -> None:
        """Take every field of ``snap`` (from :meth:`snapshot`) in one step.

        The new values are built first and swapped in with one ``dict.update``, which holds
        the GIL throughout, so a reader never sees new offsets with old high watermarks.
        """
        fields = {
            "partitions": [int(p) for p in snap["partitions"]],
            "stored": {int(p): int(o) for p, o in snap["stored"].items()},
            "high": {int(p): int(o) for p, o in snap["high"].items()},
            "records": int(snap["records"]),
            "events": int(snap["events"]),
            "rejected": int(snap["rejected"]),
            "batches": int(snap["batches"]),
            "newest_received_at": snap["newest_received_at"],
            "polled_at": snap["polled_at"],
            "fatal": snap["fatal"],
        }
        vars(self).update(fields)
