"""Twilio's call status vocabulary, shared by everything that reads or writes it.

- A status callback's ``CallStatus`` is one of :data:`CALLBACK_STATUSES` (``initiated``
  exists only there, ``queued`` only on the REST resource; the ``answered`` event arrives
  as ``in-progress``).
- The REST Call resource's ``status`` is one of :data:`REST_STATUSES` (no ``initiated``).
- :data:`TERMINAL` statuses end a call; the ``completed`` event carries one of them.
- ``Direction`` is one of :data:`DIRECTIONS`.
"""

from __future__ import annotations

TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
REST_STATUSES = (
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
)
# the callback vocabulary is the REST one with ``initiated`` after ``queued``
CALLBACK_STATUSES = ("queued", "initiated", *REST_STATUSES[1:])
DIRECTIONS = (
    "inbound",
    "outbound-api",
    "outbound-dial",
    "trunking-terminating",
    "trunking-originating",
)
