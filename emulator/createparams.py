"""Checking a ``POST .../Calls.json`` form the way Twilio does, into a :class:`CreateRequest`.

Pure: a list of ``(name, value)`` pairs in, a request or a :class:`TwilioError` out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from callstream import clients
from callstream.digits import ascii_count
from callstream.ids import is_e164
from emulator import errors

EVENTS = ("initiated", "ringing", "answered", "completed")
DEFAULT_EVENTS = frozenset({"completed"})
MAX_TIMEOUT = 600
DEFAULT_TIMEOUT = 60
DEFAULT_TIME_LIMIT = 14400
MAX_URL = 4000
MAX_TWIML = 4000
_METHODS = ("GET", "POST")


@dataclass(frozen=True)
class CreateRequest:
    to: str
    from_: str
    url: str | None
    twiml: str | None
    application_sid: str | None
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    timeout: int
    time_limit: int
    machine_detection: str | None
    method: str = "POST"  # for Url


def first(params: Sequence[tuple[str, str]], name: str) -> str | None:
    for k, v in params:
        if k == name:
            return v
    return None


def all_values(params: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in params if k == name]


def is_callable_address(value: str) -> bool:
    """E.164, a Voice SDK client (``client:name``) or a SIP URI."""
    return (
        is_e164(value)
        or clients.is_client_address(value)
        or bool(re.fullmatch(r"sips?:\S+@\S+", value))
    )


def check_url(value: str) -> bool:
    """Absolute http(s) URL with a host, at most 4000 characters, no ``_`` in the host.

    Unlike Twilio, loopback and private hosts are fine (that is where the pipeline runs).
    """
    if len(value) > MAX_URL or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "_" not in (parts.hostname or "")
        and port_ok
    )


def _method(params: Sequence[tuple[str, str]], name: str) -> str:
    raw = first(params, name)
    if raw is None or raw == "":
        return "POST"
    if raw.upper() not in _METHODS:
        if name == "Method":  # Twilio's own code for the TwiML request's method
            raise errors.invalid_method(name, raw)
        raise errors.bad_request(f"{name} must be GET or POST, not {raw!r}")
    return raw.upper()


def timeout_of(params: Sequence[tuple[str, str]]) -> int:
    """``Timeout``: whole seconds, at least 1 (capped at 600 by the caller); else 21208."""
    raw = first(params, "Timeout")
    if raw is None or raw == "":
        return DEFAULT_TIMEOUT
    value = ascii_count(raw)
    if value is None or value < 1:
        raise errors.invalid_timeout(raw)
    return value


def url_method(params: Sequence[tuple[str, str]]) -> str:
    """``Method`` (of ``Url``): GET or POST, default POST; else 21209."""
    return _method(params, "Method")


def _int(params: Sequence[tuple[str, str]], name: str, default: int) -> int:
    raw = first(params, name)
    if raw is None or raw == "":
        return default
    value = ascii_count(raw)
    if value is None:
        raise errors.bad_request(f"{name} must be a whole number of seconds, not {raw[:20]!r}")
    return value


def parse_create(params: Sequence[tuple[str, str]]) -> CreateRequest:
    """Validate a create form; raises :class:`errors.TwilioError`."""
    to = (first(params, "To") or "").strip()
    if not to:
        raise errors.missing_to()
    from_ = (first(params, "From") or "").strip()
    if not from_:
        raise errors.missing_from()
    if not is_callable_address(to):
        raise errors.invalid_to(to)
    if not (is_e164(from_) or from_.startswith("client:")):
        raise errors.invalid_from(from_)

    url = first(params, "Url") or None
    twiml = first(params, "Twiml") or None
    app_sid = first(params, "ApplicationSid") or None
    if url is None and twiml is None and app_sid is None:
        raise errors.missing_url()
    if url is not None:
        if not check_url(url):
            raise errors.invalid_url("Url", url)
        twiml = None  # Twilio ignores Twiml when Url is also given
    if twiml is not None and len(twiml) > MAX_TWIML:
        raise errors.bad_request(f"Twiml must be at most {MAX_TWIML} characters")
    if app_sid is not None and not re.fullmatch(r"AP[0-9a-fA-F]{32}", app_sid):
        raise errors.TwilioError(400, 21218, f"Invalid ApplicationSid: {app_sid}")
    method_of_url = url_method(params)

    callback = first(params, "StatusCallback") or None
    if callback is not None and not check_url(callback):
        raise errors.invalid_status_callback(callback)
    raw_events = all_values(params, "StatusCallbackEvent")
    if any(e.strip().lower() not in EVENTS for e in raw_events):
        raise errors.invalid_events()
    events = frozenset(e.strip().lower() for e in raw_events) or DEFAULT_EVENTS
    method = _method(params, "StatusCallbackMethod")
    if app_sid is not None:
        # With ApplicationSid, Twilio uses the application's own callback settings; the
        # emulator has no applications, so such calls send no status callbacks.
        callback = None

    timeout = timeout_of(params)
    time_limit = _int(params, "TimeLimit", DEFAULT_TIME_LIMIT)
    if time_limit < 1:
        raise errors.bad_request("TimeLimit must be at least 1 second")
    amd = first(params, "MachineDetection") or None
    if amd is not None and amd not in ("Enable", "DetectMessageEnd"):
        raise errors.bad_request("MachineDetection must be Enable or DetectMessageEnd")
    if first(params, "SendDigits"):
        amd = None  # Twilio ignores MachineDetection when SendDigits is set

    return CreateRequest(
        to=to,
        from_=from_,
        url=url,
        twiml=twiml,
        application_sid=app_sid,
        status_callback=callback,
        status_callback_method=method,
        events=events,
        timeout=min(timeout, MAX_TIMEOUT),
        time_limit=time_limit,
        machine_detection=amd,
        method=method_of_url,
    )
