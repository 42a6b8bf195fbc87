"""Outbound call requests: the value schema of ``dialer.requests`` and its validation.

Used by ingest's ``POST /dial``, ``callstream dial`` and the dialer, so a request is
judged the same way wherever it enters.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from callstream.ids import is_account_sid, is_e164
from callstream.timefmt import now_iso

SCHEMA_VERSION = 1
EVENTS: tuple[str, ...] = ("initiated", "ringing", "answered", "completed")
MAX_TWIML = 4000
MAX_URL = 4000
MAX_ID = 128


class DialRequestError(ValueError):
    """The request is invalid; the message is one sentence for the caller."""


@dataclass(frozen=True, slots=True)
class DialRequest:
    id: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    twiml: str | None
    status_callback_event: tuple[str, ...]
    requested_at: str
    v: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "v": self.v,
            "id": self.id,
            "account_sid": self.account_sid,
            "to": self.to,
            "from": self.from_,
        }
        if self.url is not None:
            d["url"] = self.url
        else:
            d["twiml"] = self.twiml
        d["status_callback_event"] = list(self.status_callback_event)
        d["requested_at"] = self.requested_at
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def from_input(obj: Any, account_sid: str, requested_at: str | None = None) -> DialRequest:
    """Validate what a client sent (``/dial`` JSON or CLI flags) and fill the defaults:
    the account, ``requested_at``, a new id when none is given, and all four events."""
    if not isinstance(obj, dict):
        raise DialRequestError("the body must be a JSON object")
    allowed = {"to", "from", "url", "twiml", "id", "status_callback_event"}
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise DialRequestError(f"unknown field(s): {', '.join(unknown)}")
    rid = obj.get("id")
    if rid is None:
        rid = uuid.uuid4().hex
    elif not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID or not rid.isprintable():
        raise DialRequestError(f"'id' must be a printable string of 1 to {MAX_ID} characters")
    return _build(obj, rid, account_sid, requested_at or now_iso())


def from_record(raw: bytes | str) -> DialRequest:
    """Decode a ``dialer.requests`` record; raise DialRequestError if it is malformed."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # Recursion: nested too deep
        raise DialRequestError("record is not UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise DialRequestError("record is not a JSON object")
    if obj.get("v") != SCHEMA_VERSION:
        raise DialRequestError(f"unsupported request version {obj.get('v')!r}")
    rid, acct, at = obj.get("id"), obj.get("account_sid"), obj.get("requested_at")
    if not isinstance(rid, str) or not rid:
        raise DialRequestError("record has no 'id'")
    if not isinstance(acct, str) or not is_account_sid(acct):
        raise DialRequestError("record has no valid 'account_sid'")
    if not isinstance(at, str):
        raise DialRequestError("record has no 'requested_at'")
    body = {k: obj[k] for k in ("to", "from", "url", "twiml", "status_callback_event") if k in obj}
    return _build(body, rid, acct, at)


def _build(obj: dict[str, Any], rid: str, account_sid: str, requested_at: str) -> DialRequest:
    to, frm = obj.get("to"), obj.get("from")
    for name, val in (("to", to), ("from", frm)):
        if not isinstance(val, str) or not is_e164(val):
            raise DialRequestError(f"'{name}' must be an E.164 phone number such as +14155550100")
    url, twiml = obj.get("url"), obj.get("twiml")
    if (url is None) == (twiml is None):
        raise DialRequestError("give exactly one of 'url' and 'twiml'")
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise DialRequestError("'url' must be an absolute http:// or https:// URL")
        if len(url) > MAX_URL:
            raise DialRequestError(f"'url' is longer than {MAX_URL} characters")
    if twiml is not None:
        if not isinstance(twiml, str) or not twiml.strip():
            raise DialRequestError("'twiml' must be a non-empty string")
        if len(twiml) > MAX_TWIML:
            raise DialRequestError(f"'twiml' is longer than {MAX_TWIML} characters")
    events = obj.get("status_callback_event", list(EVENTS))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise DialRequestError("'status_callback_event' must be a non-empty list of event names")
    bad = sorted({e for e in events if e not in EVENTS})
    if bad:
        raise DialRequestError(
            f"unknown event name(s) {', '.join(bad)}; known: {', '.join(EVENTS)}"
        )
    ordered = tuple(e for e in EVENTS if e in events)
    if not is_account_sid(account_sid):
        raise DialRequestError("account_sid must be 'AC' followed by 32 hex digits")
    return DialRequest(
        id=rid,
        account_sid=account_sid,
        to=to,  # type: ignore[arg-type]
        from_=frm,  # type: ignore[arg-type]
        url=url,
        twiml=twiml,
        status_callback_event=ordered,
        requested_at=requested_at,
    )
