"""The JSON body of ``POST /emulator/inbound``, checked into the arguments of
:func:`emulator.inbound.start_inbound`. Pure.

Two kinds of simulated call:

* a call to one of the account's numbers: ``from`` and ``to`` are E.164 numbers,
  ``client:NAME`` or SIP URIs;
* a call from a Voice SDK client to the account's TwiML application: ``from`` is
  ``client:NAME``. ``to`` is then whatever the client's application put in its ``To``
  parameter (any string up to :data:`MAX_CLIENT_TO` characters, or none at all: that is
  the untrusted input the voice URL must judge), ``application_sid`` the TwiML app
  (default: one derived from the account) and ``params`` the client's own parameters.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from callstream import clients
from emulator.createparams import check_url, is_callable_address

MAX_CLIENT_TO = 8192
MAX_PARAMS = 20
# Names Twilio itself sends on a voice URL request: a client's parameters cannot replace them.
_NAMES = "AccountSid ApiVersion ApplicationSid CallSid CallStatus Called Caller Direction From To"
RESERVED = frozenset([*_NAMES.split(), "ParentCallSid"])
_APP_SID = re.compile(r"AP[0-9a-f]{32}")
_PARAM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class InboundError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def default_app_sid(account_sid: str) -> str:
    """The emulator's TwiML application for an account: stable, derived from the SID."""
    return "AP" + hashlib.sha256(b"emulator-app:" + account_sid.encode()).hexdigest()[:32]


def inbound_call(body: dict[str, Any], account_sid: str) -> dict[str, Any]:
    """Keyword arguments for ``start_inbound`` (all but the engine and the account)."""
    from_, to, voice_url = body.get("from"), body.get("to"), body.get("voice_url")
    callback = body.get("status_callback")
    method = str(body.get("status_callback_method", "POST")).upper()
    if not isinstance(from_, str) or not is_callable_address(from_):
        raise InboundError("bad-number", "from must be an E.164 number, client: or sip:")
    app_params: dict[str, str] | None = None
    if clients.is_client_address(from_):
        to = _client_to(to)
        app_params = _app_params(body, account_sid)
    else:
        for name in ("application_sid", "params"):
            if name in body:
                raise InboundError("bad-field", f"{name} is only for calls from a client:")
        if not isinstance(to, str) or not is_callable_address(to):
            raise InboundError("bad-number", "to must be an E.164 number, client: or sip:")
    if not isinstance(voice_url, str) or not check_url(voice_url):
        raise InboundError("bad-url", "voice_url must be an absolute http(s) URL")
    if callback is not None and (not isinstance(callback, str) or not check_url(callback)):
        raise InboundError("bad-url", "status_callback must be an absolute http(s) URL")
    if method not in ("GET", "POST"):
        raise InboundError("bad-method", "status_callback_method must be GET or POST")
    return {
        "from_": from_,
        "to": to,
        "voice_url": voice_url,
        "status_callback": callback,
        "status_callback_method": method,
        "app_params": app_params,
    }


def _client_to(to: Any) -> str:
    if to is None:
        return ""
    if not isinstance(to, str) or len(to) > MAX_CLIENT_TO:
        raise InboundError(
            "bad-number", f"to must be a string of at most {MAX_CLIENT_TO} characters"
        )
    return to


def _app_params(body: dict[str, Any], account_sid: str) -> dict[str, str]:
    app = body.get("application_sid", default_app_sid(account_sid))
    if not isinstance(app, str) or not _APP_SID.fullmatch(app):
        raise InboundError("bad-application-sid", "application_sid must be 'AP' + 32 hex")
    extra = body.get("params", {})
    if not isinstance(extra, dict) or len(extra) > MAX_PARAMS:
        raise InboundError("bad-params", f"params must be an object of at most {MAX_PARAMS}")
    out = {"ApplicationSid": app}
    for name, value in extra.items():
        if not _PARAM_NAME.fullmatch(name) or name in RESERVED or not isinstance(value, str):
            raise InboundError(
                "bad-params",
                f"params: {name[:40]!r} must be a name of letters, digits and '_' that Twilio "
                "does not send itself, with a string value",
            )
        out[name] = value
    return out
