"""A dead-letter record that can always be produced. Pure: no I/O.

A malformed request is dead-lettered with its raw value, so that an operator sees what
arrived. A request record of several megabytes (anyone with access to the topic can write
one) would make a dead letter over the producer's ``max_request_size``; the dialer retried
that produce for ever and stopped placing calls. Such a dead letter keeps the start of the
raw value instead, says how long it was, and keeps the small identifying fields.
"""

from __future__ import annotations

from typing import Any

from dialer import ledger as lg

MAX_VALUE = 256 * 1024  # far below the producer's 1 MiB
# characters of the raw value kept when cut: even all control characters (6 bytes each once
# JSON-escaped) stay under 400 KiB
KEEP_RAW = 64 * 1024
_IDS = ("id", "account_sid", "to", "from")


def dead_letter_value(rec: dict[str, Any], raw: bytes | None) -> bytes:
    """``rec`` encoded, or, when that is over ``MAX_VALUE``, a cut version of it."""
    value = lg.encode(rec)
    if len(value) <= MAX_VALUE:
        return value
    small = {k: rec[k] for k in _IDS if isinstance(rec.get(k), str) and len(rec[k]) <= 256}
    text = (raw or b"").decode("utf-8", "replace")
    reason = rec.get("reason")
    if len(lg.encode({"r": reason})) > 8 * 1024:  # an error message quoting the input
        kind = reason.get("kind") if isinstance(reason, dict) else None
        reason = {"kind": kind, "message": str(reason)[:1000], "truncated": True}
    return lg.encode(
        {
            **small,
            "raw": text[:KEEP_RAW],
            "raw_truncated": {"bytes": len(raw or b""), "kept_chars": min(len(text), KEEP_RAW)},
            "reason": reason,
            "dead_lettered_at": rec.get("dead_lettered_at"),
            "source": rec.get("source"),
        }
    )
