"""The reconciler's snapshots on ``twilio.call-status``: how they are marked and numbered.

Shared by the reconciler, which writes them, and the projector, which accepts their
SequenceNumbers (real callbacks number from 0 up; snapshots use the reserved negative range
below, ordered by status rank; the reasoning is in docs/reconciliation.md).
"""

from __future__ import annotations

from callstream.callstatus import TERMINAL

SOURCE = "callstream-reconciler"
"""``CallbackSource`` of a snapshot (Twilio's callbacks say ``call-progress-events``)."""

# status -> SequenceNumber of its snapshot; every terminal status shares -1
RANK: dict[str, int] = {
    "queued": -5,
    "initiated": -4,
    "ringing": -3,
    "in-progress": -2,
    **dict.fromkeys(sorted(TERMINAL), -1),
}
SEQUENCES = range(-5, 0)
