"""Which call a create in doubt may have made, among the calls Twilio lists (pure).

The dialer lists the account's recent calls with the request's To and From
(``GET /Calls.json``, the 50 most recent) and keeps as candidates those created no earlier
than the attempt's ``sent_at`` minus :data:`CLOCK_SKEW_S` and a second (Twilio's
``date_created`` has whole seconds), whose sid no outcome of the partition already names.
``StartTime`` is not used as a filter: it takes a date, not a time, and a queued call has
no start time yet.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

CLOCK_SKEW_S = 2.0  # tolerated difference between our wall clock and Twilio's

MATCHED = "matched"  # exactly one candidate
NOT_FOUND = "not-found"
AMBIGUOUS = "ambiguous"  # several candidates
UNAVAILABLE = "unavailable"  # the list call failed


class ListedCall(Protocol):
    """A call as the API lists it (``dialer.twilio_api.FoundCall``)."""

    @property
    def sid(self) -> str: ...

    @property
    def to(self) -> str | None: ...

    @property
    def from_(self) -> str | None: ...

    @property
    def date_created(self) -> float | None: ...


@dataclass(frozen=True)
class Match:
    status: str  # MATCHED, NOT_FOUND, AMBIGUOUS or UNAVAILABLE
    sid: str | None = None  # set when MATCHED
    candidates: tuple[str, ...] = ()


UNREADABLE = Match(UNAVAILABLE)


def match(
    calls: Iterable[ListedCall],
    to: str,
    from_: str,
    since_wall: float | None,
    known_sids: Collection[str],
) -> Match:
    """The call a create sent at ``since_wall`` (wall clock; None: unknown) may have made."""
    floor = -math.inf if since_wall is None else math.floor(since_wall) - 1 - CLOCK_SKEW_S
    cands = tuple(
        c.sid
        for c in calls
        if c.sid not in known_sids
        and c.to in (None, to)
        and c.from_ in (None, from_)
        and (c.date_created is None or c.date_created >= floor)
    )
    if not cands:
        return Match(NOT_FOUND)
    if len(cands) == 1:
        return Match(MATCHED, cands[0], cands)
    return Match(AMBIGUOUS, None, cands)
