"""Twilio Event Streams deliveries (``POST /twilio/events``): the signature check and the
reading of the batch. Pure: no I/O, no clock.

A webhook sink delivery is a JSON array of CloudEvents. Twilio signs it as it signs every
JSON webhook: it adds ``bodySHA256`` (lowercase hex SHA-256 of the raw body) to the sink
URL's query and signs that URL alone (no parameters appended) with HMAC-SHA1 of the auth
token, exactly what twilio-python's ``RequestValidator.validate(url, body_text, sig)``
checks. The check here gives the same verdict, but reports *which* part failed (no hash,
a hash that does not match the body, a signature that matches no token) and hashes the raw
bytes, so a body that is not UTF-8 is refused for what it is rather than raising.

Each event becomes one record for ``twilio.events`` (the event re-encoded, members
unchanged) and, for a voice call-progress event, also the status callback it mirrors
(``data.request.parameters`` as ``[name, value]`` pairs) for ``twilio.call-status``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from twilio.request_validator import RequestValidator, add_port, remove_port

from callstream.ids import CALL_SID
from ingest.callback import CallbackError, identify

# A delivery holds a batch of events; each record stays far under ingest.records.MAX_RECORD.
MAX_EVENTS_BODY = 1024 * 1024
CALL_PROGRESS_PREFIX = "com.twilio.voice.status-callback.call."
JSON_TYPE = "application/json"
BODY_HASH = "bodySHA256"


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted CloudEvent: its ``id``, the record key (CallSid, else the id), the
    record value for ``twilio.events``, and for a call-progress event the callback's
    ``[name, value]`` pairs and method (None for other events)."""

    id: str
    key: str
    value: bytes
    callback: list[list[str]] | None = None
    method: str = "POST"

    @property
    def call_sid(self) -> str | None:
        return self.key if self.callback is not None else None


class EventsSignature:
    """Checks ``X-Twilio-Signature`` on a JSON delivery against any of ``tokens`` (one per
    account whose events may arrive here): the first token that validates wins."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if not all(tokens):
            raise ValueError("an auth token must not be empty")
        self._validators = tuple(RequestValidator(t) for t in tokens)

    def check(self, url: str, body: bytes, signature: str | None) -> int:
        """The index of the token that made ``signature``; raise :class:`CallbackError`
        (403) unless ``url`` carries the body's hash and ``signature`` signs ``url`` (with
        or without the scheme's default port)."""
        if not signature:
            raise CallbackError(
                403, "missing-signature", "the X-Twilio-Signature header is missing"
            )
        hashes = parse_qs(urlparse(url).query, keep_blank_values=True).get(BODY_HASH)
        if not hashes:
            raise CallbackError(
                403, "missing-body-hash", "the URL has no bodySHA256 query parameter"
            )
        if len(hashes) > 1:
            raise CallbackError(403, "bad-body-hash", "bodySHA256 is given more than once")
        digest = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(digest.encode(), hashes[0].encode("utf-8", "replace")):
            raise CallbackError(
                403, "bad-body-hash", "bodySHA256 does not match the SHA-256 of the body"
            )
        parsed = urlparse(url)
        variants = {str(remove_port(parsed)), str(add_port(parsed))}
        given = signature.encode("utf-8", "surrogateescape")
        for i, validator in enumerate(self._validators):
            for variant in variants:
                expected = validator.compute_signature(variant, {})
                if hmac.compare_digest(expected.encode("ascii"), given):
                    return i
        raise CallbackError(403, "bad-signature", "the X-Twilio-Signature does not match")


def is_json(content_type: str | None) -> bool:
    """``application/json``, with or without parameters like charset."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == JSON_TYPE


def parse_batch(body: bytes, accepts: Callable[[str], bool]) -> list[Event]:
    """The events of one delivery, in the order sent; raise :class:`CallbackError`: 400
    when the body is not a JSON array of CloudEvents (or a call-progress event has no
    usable parameters), 403 when a call-progress event's AccountSid is not one that
    ``accepts`` (the accounts ingest serves)."""
    try:
        batch = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CallbackError(400, "malformed", "the body is not UTF-8 JSON") from None
    if not isinstance(batch, list):
        raise CallbackError(400, "malformed", "the body must be a JSON array of CloudEvents")
    return [_event(i, e, accepts) for i, e in enumerate(batch)]


def _event(index: int, event: Any, accepts: Callable[[str], bool]) -> Event:
    where = f"event {index}"
    if not isinstance(event, dict):
        raise CallbackError(400, "malformed", f"{where} is not a JSON object")
    if event.get("specversion") != "1.0":
        raise CallbackError(400, "malformed", f'{where}: specversion must be "1.0"')
    for name in ("id", "source", "type"):
        v = event.get(name)
        if not isinstance(v, str) or not v:
            raise CallbackError(400, "malformed", f"{where}: {name} must be a non-empty string")
    value = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ce_id: str = event["id"]
    data = event.get("data")
    if not event["type"].startswith(CALL_PROGRESS_PREFIX):
        return Event(ce_id, _call_sid_of(data) or ce_id, value)
    pairs, method = _callback(where, data)
    account = next((v for k, v in pairs if k == "AccountSid"), "")
    # identify() checks the shapes, and refuses (403) an AccountSid other than the one it
    # is given: the event's own when ingest serves that account, else none
    identity = identify(pairs, account if accepts(account) else "")
    return Event(ce_id, identity.call_sid, value, pairs, method)


def _callback(where: str, data: Any) -> tuple[list[list[str]], str]:
    request = data.get("request") if isinstance(data, dict) else None
    params = request.get("parameters") if isinstance(request, dict) else None
    if not isinstance(request, dict) or not isinstance(params, dict):
        raise CallbackError(
            400, "malformed", f"{where}: a call-progress event needs data.request.parameters"
        )
    pairs: list[list[str]] = []
    for k, v in params.items():
        if not isinstance(v, str):
            raise CallbackError(400, "malformed", f"{where}: parameter {k!r} must be a string")
        pairs.append([k, v])
    method = request.get("method")
    return pairs, "GET" if isinstance(method, str) and method.upper() == "GET" else "POST"


def _call_sid_of(data: Any) -> str | None:
    """A CallSid the event names, for its record key (one call's events in one partition)."""
    if not isinstance(data, dict):
        return None
    request = data.get("request")
    params = request.get("parameters") if isinstance(request, dict) else None
    candidates = [
        params.get("CallSid") if isinstance(params, dict) else None,
        data.get("callSid"),
        data.get("sid"),
    ]
    for c in candidates:
        if isinstance(c, str) and CALL_SID.fullmatch(c):
            return c
    return None
