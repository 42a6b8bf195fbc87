"""Checking a ``POST .../Calls/{Sid}.json`` (update) form the way Twilio does. Pure.

``Status`` (``canceled`` | ``completed``) hangs the call up; ``Url`` (with ``Method``) or
``Twiml`` redirect it to new instructions; ``StatusCallback`` and ``StatusCallbackMethod``
change where the rest of its callbacks go. A call that already ended can be neither hung
up nor redirected (21220).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emulator import errors, twiml
from emulator.createparams import MAX_TWIML, check_url, first, url_method


@dataclass(frozen=True)
class UpdateRequest:
    status: str | None = None
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status_callback: str | None = None  # "" clears it
    status_callback_method: str | None = None

    @property
    def acts_on_the_call(self) -> bool:
        return self.status is not None or self.url is not None or self.twiml is not None


def parse_update(params: Sequence[tuple[str, str]], ended: bool) -> UpdateRequest:
    """Validate an update form for a call (``ended``: already in a terminal state)."""
    status = first(params, "Status") or None
    if status is not None and status not in ("canceled", "completed"):
        raise errors.bad_request("Status must be canceled or completed")
    url = first(params, "Url") or None
    if url is not None and not check_url(url):
        raise errors.invalid_url("Url", url)
    method = url_method(params)
    inline = first(params, "Twiml") or None
    if url is not None:
        inline = None  # as on create, Url wins over Twiml
    if inline is not None:
        if len(inline) > MAX_TWIML:
            raise errors.bad_request(f"Twiml must be at most {MAX_TWIML} characters")
        try:
            twiml.parse(inline)
        except twiml.TwimlError as e:
            raise errors.bad_request(f"Twiml is not valid TwiML: {e}") from None
    callback = first(params, "StatusCallback")
    if callback and not check_url(callback):
        raise errors.invalid_status_callback(callback)
    cb_method = first(params, "StatusCallbackMethod") or None
    if cb_method is not None:
        if cb_method.upper() not in ("GET", "POST"):
            raise errors.bad_request("StatusCallbackMethod must be GET or POST")
        cb_method = cb_method.upper()
    req = UpdateRequest(status, url, method, inline, callback, cb_method)
    if ended and req.acts_on_the_call:
        raise errors.call_not_in_progress()
    return req
