"""The callback envelope: one record on ``twilio.call-status`` per accepted callback.

``params`` keeps every parameter exactly as received: order, repeated names, empty values
and unknown names. Encoding is compact UTF-8 JSON; decoding checks the shape and the schema
version and raises :class:`EnvelopeError` with a reason a person can read.

Two ways to read a record, both here because both depend on how :func:`encode` lays it out:
:func:`decode` gives the typed :class:`CallbackEnvelope` and checks every parameter;
:func:`read` is the reader's hot path (the projector's), which gives :data:`Fields`, a plain
tuple, and checks only the parameters the caller names (pure: no I/O).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
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
    return _COMPACT.encode(
        {
            "v": SCHEMA_VERSION,
            "received_at": received_at,
            "method": method,
            "url": url,
            "params": params,
            "idempotency_token": idempotency_token,
        }
    ).encode("utf-8")


# json.dumps with options builds a JSONEncoder per call; one, made once, writes the same
# bytes (measured: a third less time per envelope). No circular-reference check: what is
# encoded here is parsed form fields or decoded JSON, which cannot hold a cycle, and the
# check (a dict of every container's id) took half the time of encoding a params array.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


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


# -- the hot path: reading many records --------------------------------------------------

Fields = tuple[str, list[Any], dict[str, str], str]
"""What :func:`read` gives for one record: ``(received_at, params, first, params_text)``:
the params array as decoded, the first value of each parameter, and the array as JSON text.
A plain tuple, not a :class:`CallbackEnvelope`: building one per record would cost more than
reading the record."""

_ENCODE_PARAMS = _COMPACT.encode
_STR = frozenset({str})
# how encode begins a record
_HEAD = f'{{"v":{SCHEMA_VERSION},"received_at":'

# C: (value, end) of the JSON value that starts at an index; StopIteration when none does
# (typeshed does not declare the instance attribute)
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _own_layout(text: str) -> tuple[str, list[Any], str] | None:
    """(received_at, params, the params' text), when ``text`` is laid out exactly as
    :func:`encode` writes it; ``None`` for any other layout.

    Walking the known keys in their order parses each value once and yields the params
    array's own text, which is kept as is instead of being encoded again (that encoding was
    40 % of the projector's reading of a record). Whatever does not match exactly (other key
    orders, whitespace between keys, more keys, another version) goes the general way. Both
    ways read the same fields and parameters; this one keeps the array's own spelling, which
    for every record :func:`encode` writes is the compact JSON the general way produces.
    """
    if not text.startswith(_HEAD):
        return None
    try:
        received_at, i = _scan(text, len(_HEAD))
        if not text.startswith(',"method":', i):
            return None
        method, i = _scan(text, i + 10)
        if not text.startswith(',"url":', i):
            return None
        url, i = _scan(text, i + 7)
        if not text.startswith(',"params":', i):
            return None
        start = i + 10
        params, end = _scan(text, start)
        if not text.startswith(',"idempotency_token":', end):
            return None
        tok, i = _scan(text, end + 21)
    except (StopIteration, ValueError, RecursionError):  # not JSON there
        return None
    if (
        i != len(text) - 1
        or text[i] != "}"
        or type(received_at) is not str
        or type(method) is not str
        or type(url) is not str
        or type(params) is not list
        or (tok is not None and type(tok) is not str)
    ):
        return None
    return received_at, params, text[start:end]


def read(value: bytes | str | None, strings: tuple[str, ...]) -> Fields:
    """The :data:`Fields` of one record; raise :class:`EnvelopeError` (with :func:`decode`'s
    reason) when it is not an envelope, or when a parameter named in ``strings`` has a value
    that is not a string (a JSON null included: absent is not null). Other parameters are
    not checked: a reader keeps them as they are.

    Bytes laid out as :func:`encode` writes them take the fast way (:func:`read_own`);
    anything else, and ``str`` records, the general way (:func:`read_any`)."""
    if type(value) is bytes:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return read_any(value, strings)  # json.loads then decode() say what is wrong
        got = read_own(text, strings)
        # another layout: the text already decoded is read, not the bytes a second time
        return got if got is not None else read_any(value, strings, text)
    return read_any(value, strings)


def read_own(text: str, strings: tuple[str, ...]) -> Fields | None:
    """:func:`read` for a record of :func:`encode`'s own layout; ``None`` for any other
    layout and for anything odd (the general way then gives the verdict)."""
    own = _own_layout(text)
    if own is None:
        return None
    received_at, params, params_text = own
    try:
        first = _first_values(params, strings)
    except (ValueError, TypeError):  # not [name, value] pairs
        return None
    return None if first is None else (received_at, params, first, params_text)


def _first_values(params: list[Any], strings: tuple[str, ...]) -> dict[str, str] | None:
    """The first value of each parameter, or ``None`` when one named in ``strings`` is not
    a string (absent reads as ""). Raises ValueError or TypeError when ``params`` is not a
    list of pairs."""
    first: dict[str, str] = dict(reversed(params))
    return first if set(map(type, map(first.get, strings, repeat("")))) <= _STR else None


def read_any(
    value: bytes | str | None, strings: tuple[str, ...], text: str | None = None
) -> Fields:
    """:func:`read` for a record of any layout; ``text``: ``value`` already decoded as UTF-8.

    The hot path checks the envelope's shape and the type of every parameter named in
    ``strings``, in a few C-level calls; anything odd goes through :func:`decode` (of the
    record as it came: json.loads reads a BOM or UTF-16 in bytes) for its exact verdict and
    message. The params text is compact JSON.
    """
    try:
        raw = text if text is not None else value
        obj = json.loads(raw) if raw is not None else None
        if type(obj) is dict and obj.get("v") == SCHEMA_VERSION:
            params, received_at = obj.get("params"), obj.get("received_at")
            tok = obj.get("idempotency_token")
            if (
                type(params) is list
                and type(received_at) is str
                and type(obj.get("method")) is str
                and type(obj.get("url")) is str
                and (tok is None or type(tok) is str)
            ):
                first = _first_values(params, strings)
                if first is not None:
                    return received_at, params, first, _ENCODE_PARAMS(params)
    except (ValueError, TypeError, RecursionError):  # Recursion: nested too deep
        pass
    env = decode(value)  # raises EnvelopeError with the reason
    pairs = [list(p) for p in env.params]
    return env.received_at, pairs, dict(reversed(env.params)), _ENCODE_PARAMS(pairs)
