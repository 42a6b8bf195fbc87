"""The per-account CPS queue: calls leave ``queued`` no faster than ``cps`` per second.

Pure arithmetic over a clock value passed in; the async adapter in :mod:`emulator.engine`
sleeps until :meth:`CpsQueue.next_due` and then calls :meth:`CpsQueue.release`.
A call canceled while waiting leaves the queue without using a slot.
"""

from __future__ import annotations

from collections import deque


class CpsQueue:
    def __init__(self, cps: float) -> None:
        if cps <= 0:
            raise ValueError("cps must be above 0")
        self.interval = 1.0 / cps
        self._waiting: deque[str] = deque()
        self.last_release: float | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def _first_slot(self, now: float) -> float:
        if self.last_release is None:
            return now
        return max(now, self.last_release + self.interval)

    def enqueue(self, call_sid: str, now: float) -> float:
        """Add a call; returns the estimated wait in seconds before it leaves the queue."""
        estimate = self._first_slot(now) + len(self._waiting) * self.interval - now
        self._waiting.append(call_sid)
        return max(0.0, estimate)

    def cancel(self, call_sid: str) -> bool:
        try:
            self._waiting.remove(call_sid)
        except ValueError:
            return False
        return True

    def next_due(self, now: float) -> float | None:
        """When the head of the queue may leave (a clock value), or None when empty."""
        if not self._waiting:
            return None
        return self._first_slot(now)

    def release(self, now: float) -> str:
        """Take the head of the queue; only when ``now >= next_due(now)``."""
        due = self.next_due(now)
        if due is None or now < due:
            raise RuntimeError("release before the call is due")
        self.last_release = now
        return self._waiting.popleft()
