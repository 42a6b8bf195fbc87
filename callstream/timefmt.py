"""UTC timestamps as the product writes them: ISO 8601 with microseconds and a 'Z'
(``2026-11-25T12:00:00.123456Z``), the form of an envelope's ``received_at``, a log line's
``ts`` and the dialer ledger's times. Pure: the clock is read only by :func:`now_iso`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_DATE = "%Y-%m-%dT%H:%M:%S"


def iso(unix: float) -> str:
    """``unix`` (seconds since the epoch) as ``2026-11-25T12:00:00.123456Z``."""
    return datetime.fromtimestamp(unix, UTC).strftime(_DATE + ".%fZ")


_last: list[int | str] = [-1, ""]  # the last whole second formatted, and its date part


def now_iso() -> str:
    """Now in :func:`iso`'s form, formatting the date part once per second (this runs once
    per callback on ingest's hot path, where ``datetime.strftime`` shows in profiles)."""
    t = time.time()
    sec = int(t)
    if sec != _last[0]:
        _last[1] = time.strftime(_DATE, time.gmtime(sec))
        _last[0] = sec
    return f"{_last[1]}.{int((t - sec) * 1_000_000):06d}Z"
