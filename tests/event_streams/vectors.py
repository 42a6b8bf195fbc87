"""Event Streams deliveries shaped as Twilio documents them, signed with twilio-python's
own RequestValidator the way Twilio signs a JSON webhook (``bodySHA256`` in the URL)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from twilio.request_validator import RequestValidator

from tests.helpers import AUTH_TOKEN

PROGRESS = "com.twilio.voice.status-callback.call."
EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}


def cloud_event(
    params: list[tuple[str, str]], event_id: str | None = None, **override: Any
) -> dict[str, Any]:
    """A voice call-progress CloudEvent mirroring the callback ``params``."""
    p = dict(params)
    status = p.get("CallStatus", "completed")
    event: dict[str, Any] = {
        "specversion": "1.0",
        "type": PROGRESS + EVENT_OF.get(status, "completed"),
        "source": f"/2010-04-01/Accounts/{p.get('AccountSid')}/Calls/{p.get('CallSid')}.json",
        "id": event_id or "EZ" + uuid.uuid4().hex,
        "dataschema": "https://events-schemas.twilio.com/Voice.WebhookEvent/2",
        "datacontenttype": "application/json",
        "time": "2026-11-25T12:00:00.000Z",
        "data": {
            "sid": p.get("CallSid"),
            "timestamp": "2026-11-25T12:00:00.000Z",
            "request": {
                "method": "POST",
                "url": "https://hooks.example.com/twilio/status",
                "parameters": p,
            },
        },
    }
    event.update(override)
    return event


def body_of(events: list[Any]) -> bytes:
    return json.dumps(events).encode("utf-8")


def signed(url: str, body: bytes, token: str = AUTH_TOKEN) -> tuple[str, str]:
    """The URL Twilio requests (``bodySHA256`` appended) and its X-Twilio-Signature."""
    sep = "&" if "?" in url else "?"
    full = f"{url}{sep}bodySHA256={hashlib.sha256(body).hexdigest()}"
    sig = RequestValidator(token).compute_signature(full, {})
    assert RequestValidator(token).validate(full, body.decode("utf-8"), sig)  # the SDK agrees
    return full, str(sig)
