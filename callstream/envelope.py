"""The callback envelope: one record on ``twilio.call-status`` per accepted callback.

``params`` keeps every parameter exactly as received: order, repeated names, empty values
and unknown names. Encoding is compact UTF-8 JSON; decoding checks the shape and the schema
version and raises :class:`EnvelopeError` with a reason a person can read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1


class EnvelopeError(ValueError):
    """A record on the topic is not a callback envelope callstream can read."""


@dataclass(frozen=True, slots=True)
class CallbackEnvelope:
    received_at: str
    method: str
    url: str
    params: tuple[tuple[str, str], ...]
    idempotency_token: str | None = None
    v: int = SCHEMA_VERSION

    def get(self, name: str) -> str | None:
        """The first value of parameter ``name``, or None."""
        for k, val in self.params:
            if k == name:
                return val
        return None

    @property
    def call_sid(self) -> str | None:
        return self.get("CallSid")

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "received_at": self.received_at,
            "method": self.method,
            "url": self.url,
            "params": [list(p) for p in self.params],
            "idempotency_token": self.idempotency_token,
        }

    def to_json(self) -> bytes:
        return encode(self.received_at, self.method, self.url, self.params, self.idempotency_token)


def encode(
    received_at: str,
    method: str,
    url: str,
    params: Any,
    idempotency_token: str | None,
) -> bytes:
    """Encode without building an envelope object first (the ingest hot path)."""
    return json.dumps(
        {
            "v": SCHEMA_VERSION,
            "received_at": received_at,
            "method": method,
            "url": url,
            "params": params,
            "idempotency_token": idempotency_token,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def decode(raw: bytes | str | None) -> CallbackEnvelope:
    """Decode one record value; raise EnvelopeError on anything malformed."""
    if raw is None:
        raise EnvelopeError("record has no value")
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # Recursion: nested too deep
        raise EnvelopeError(f"value is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict):
        raise EnvelopeError("value is not a JSON object")
    v = obj.get("v")
    if v != SCHEMA_VERSION:
        raise EnvelopeError(f"unsupported envelope version {v!r} (this reader knows 1)")
    for key in ("received_at", "method", "url"):
        if not isinstance(obj.get(key), str):
            raise EnvelopeError(f"field {key!r} is missing or not a string")
    params = obj.get("params")
    if not isinstance(params, list):
        raise EnvelopeError("field 'params' is missing or not a list")
    out: list[tuple[str, str]] = []
    for p in params:
        if (
            not isinstance(p, list)
            or len(p) != 2
            or not isinstance(p[0], str)
            or not isinstance(p[1], str)
        ):
            raise EnvelopeError("each entry of 'params' must be a [name, value] pair of strings")
        out.append((p[0], p[1]))
    token = obj.get("idempotency_token")
    if token is not None and not isinstance(token, str):
        raise EnvelopeError("field 'idempotency_token' must be a string or null")
    return CallbackEnvelope(
        received_at=obj["received_at"],
        method=obj["method"],
        url=obj["url"],
        params=tuple(out),
        idempotency_token=token,
    )


def utc_now_iso() -> str:
    """Now as ISO 8601 UTC with microseconds and a 'Z', the envelope's received_at form."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
