"""The parameters Twilio sends with a TwiML request and a status callback. Pure."""

from __future__ import annotations

from emulator.calls import API_VERSION, Call
from emulator.lifecycle import Step, billed_minutes
from emulator.timefmt import rfc2822

# A few country calling codes, longest first; geographic fields are sent only for numbers
# whose country is known here. City, state and zip are sent empty, as Twilio does when it
# has no data.
_COUNTRIES = (
    ("+44", "GB"),
    ("+33", "FR"),
    ("+49", "DE"),
    ("+61", "AU"),
    ("+55", "BR"),
    ("+91", "IN"),
    ("+81", "JP"),
    ("+34", "ES"),
    ("+39", "IT"),
    ("+31", "NL"),
    ("+1", "US"),
)


def country_of(number: str) -> str | None:
    for prefix, country in _COUNTRIES:
        if number.startswith(prefix):
            return country
    return None


def _geo(prefixes: tuple[str, ...], number: str) -> dict[str, str]:
    country = country_of(number)
    if country is None:
        return {}
    out: dict[str, str] = {}
    for p in prefixes:
        out.update({f"{p}City": "", f"{p}State": "", f"{p}Zip": "", f"{p}Country": country})
    return out


def standard_params(call: Call, call_status: str) -> dict[str, str]:
    """Parameters sent on every request about ``call``."""
    params = {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": call_status,
        "Called": call.to,
        "Caller": call.from_,
        "Direction": call.direction,
        "From": call.from_,
        "To": call.to,
    }
    if call.parent_call_sid:
        params["ParentCallSid"] = call.parent_call_sid
    params.update(_geo(("From", "Caller"), call.from_))
    params.update(_geo(("To", "Called"), call.to))
    return params


def status_callback_params(
    call: Call, step: Step, sequence: int, timestamp: float
) -> dict[str, str]:
    """A call-progress status callback for ``step``."""
    params = standard_params(call, step.status)
    params["CallbackSource"] = "call-progress-events"
    params["SequenceNumber"] = str(sequence)
    params["Timestamp"] = rfc2822(timestamp)
    if step.answered_by is not None:
        params["AnsweredBy"] = step.answered_by
    if step.terminal:
        params["CallDuration"] = str(step.call_duration or 0)
        params["Duration"] = str(billed_minutes(step))
        if step.sip_code is not None:
            params["SipResponseCode"] = str(step.sip_code)
    return params
