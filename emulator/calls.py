"""The Call resource: the emulator's record of a call leg and its Twilio JSON form."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from callstream.callstatus import TERMINAL
from emulator.timefmt import rfc2822

API_VERSION = "2010-04-01"
SUBRESOURCES = (
    "notifications",
    "recordings",
    "payments",
    "events",
    "siprec",
    "streams",
    "transcriptions",
    "user_defined_message_subscriptions",
    "user_defined_messages",
)


@dataclass
class Call:
    """One call leg. ``status`` only ever holds a REST status (never ``initiated``)."""

    sid: str
    account_sid: str
    to: str
    from_: str
    direction: str  # inbound | outbound-api | outbound-dial
    date_created: float
    parent_call_sid: str | None = None
    status: str = "queued"
    date_updated: float = 0.0
    start_time: float | None = None
    end_time: float | None = None
    duration: int | None = None
    answered_by: str | None = None
    queue_time_ms: int = 0
    # delivery of status callbacks
    status_callback: str | None = None
    status_callback_method: str = "POST"
    events: frozenset[str] = field(default_factory=lambda: frozenset({"completed"}))
    callbacks_sent: int = 0  # the next SequenceNumber
    url: str | None = None  # TwiML requested when an outbound-api call is answered
    url_method: str = "POST"
    left_queue_at: float | None = None

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    def next_sequence(self) -> int:
        n = self.callbacks_sent
        self.callbacks_sent += 1
        return n


def price(call: Call) -> str | None:
    if call.status != "completed" or call.duration is None:
        return None
    return f"-{0.013 * max(1, math.ceil(call.duration / 60)):.5f}"


def call_json(call: Call) -> dict[str, object]:
    base = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated or call.date_created),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": display_form(call.to),
        "from": call.from_,
        "from_formatted": display_form(call.from_),
        "phone_number_sid": None,
        "status": call.status,
        "start_time": rfc2822(call.start_time) if call.start_time is not None else None,
        "end_time": rfc2822(call.end_time) if call.end_time is not None else None,
        "duration": str(call.duration) if call.duration is not None else None,
        "price": price(call),
        "price_unit": "USD",
        "direction": call.direction,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": str(call.queue_time_ms),
        "trunk_sid": None,
        "uri": base + ".json",
        "subresource_uris": {name: f"{base}/{_camel(name)}.json" for name in SUBRESOURCES},
    }


def display_form(address: str) -> str:
    """The number as Twilio displays it: a North American (+1) number as ``(415)
    555-0100``; any other address (other countries' numbers, ``client:``, SIP) as given,
    since the emulator has no numbering plan for them (docs/emulator.md)."""
    m = _NANP.fullmatch(address)
    return f"({m[1]}) {m[2]}-{m[3]}" if m else address


_NANP = re.compile(r"\+1(\d{3})(\d{3})(\d{4})")


def _camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))
