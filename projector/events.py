"""The projector's plain data: one interpreted callback (:class:`Event`), one record it could
not interpret (:class:`Rejected`), and a record's place in the log (:data:`Position`).

Pure: no Kafka, no SQLite, no clock. :mod:`projector.interpret` makes these from records,
:mod:`projector.fold` folds events into a call's row, :mod:`projector.store` records both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callstream.callstatus import TERMINAL

EVENT_COLUMNS = (
    "call_sid",
    "sequence_number",
    "status",
    "timestamp",
    "received_at",
    "partition",
    "offset",
    "params",
)

Position = tuple[int, int]  # (partition, offset)


@dataclass(slots=True)
class Event:
    """One interpreted callback, with its place in the log."""

    call_sid: str
    sequence_number: int
    status: str
    timestamp: str | None  # ISO 8601 UTC from the callback's own Timestamp
    received_at: str
    partition: int
    offset: int
    params: str  # the callback's parameters as compact JSON, exactly as received
    account_sid: str | None = None
    parent_call_sid: str | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    call_duration_s: int | None = None
    billed_minutes: int | None = None
    sip_response_code: int | None = None
    answered_by: str | None = None

    @property
    def position(self) -> Position:
        return (self.partition, self.offset)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def row(self) -> tuple[Any, ...]:
        """The ``call_events`` row, in :data:`EVENT_COLUMNS` order."""
        return (
            self.call_sid,
            self.sequence_number,
            self.status,
            self.timestamp,
            self.received_at,
            self.partition,
            self.offset,
            self.params,
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the projector cannot interpret, kept with the reason and its offset."""

    partition: int
    offset: int
    reason: str
    call_sid: str | None
    received_at: str | None
    value: str | None  # the record's value as text (lossy for non-UTF-8 bytes)
