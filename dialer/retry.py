"""Which answers to a create request are retried, rejected or in doubt, and how long to
back off. Pure: the adapter turns exceptions into :class:`Failure` values first.

* 429 or Twilio error 20429 (too many concurrent requests): not processed, retry.
* 5xx: Twilio says these were not processed; the dialer still looks the call up before
  retrying (a 5xx after the call was created would otherwise dial twice).
* other 4xx (21211 invalid To, 21626 bad event, 21609 bad callback URL, 21201/21205,
  20003 auth...): the request is rejected; it goes to ``dialer.dead-letter``.
* no connection at all (refused, connect timeout): nothing was sent, retry.
* anything after the request may have left (read timeout, connection reset, an unreadable
  2xx): in doubt; never resent blindly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Verdict(Enum):
    RETRY = "retry"
    VERIFY_THEN_RETRY = "verify-then-retry"
    REJECT = "reject"
    IN_DOUBT = "in-doubt"


@dataclass(frozen=True)
class Failure:
    """A create that did not answer 201. ``status`` is the HTTP status, 0 when none came."""

    status: int
    code: int | str | None
    message: str
    sent: bool = True  # False: the request never left (connection refused)

    def as_error(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.status:
            out["status"] = self.status
        return out


TOO_MANY_REQUESTS = 20429


def classify(f: Failure) -> Verdict:
    if not f.sent:
        return Verdict.RETRY
    if f.status == 429 or f.code == TOO_MANY_REQUESTS:
        return Verdict.RETRY
    if 500 <= f.status <= 599:
        return Verdict.VERIFY_THEN_RETRY
    if 400 <= f.status <= 499:
        return Verdict.REJECT
    return Verdict.IN_DOUBT


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt *n* (1-based, the one that failed) waits
    between half and all of ``min(cap, base * 2**(n-1))``."""

    base_s: float = 0.5
    cap_s: float = 30.0
    max_attempts: int = 8

    def delay(self, attempt: int, rnd: random.Random | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** max(0, attempt - 1))
        u = (rnd or random).random()
        return ceiling / 2 + u * ceiling / 2

    def gives_up_after(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
