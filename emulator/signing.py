"""Building and signing the HTTP requests Twilio makes to your application.

The signature (``X-Twilio-Signature``) is twilio-python's own ``compute_signature``: the URL
as requested (fragment excluded) followed, for POST, by the sorted form parameters.
For GET the parameters are appended to the URL's query string and nothing else is signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

FORM = "application/x-www-form-urlencoded"
USER_AGENT = "TwilioProxy/1.1"


@dataclass(frozen=True)
class SignedRequest:
    method: str
    url: str  # without fragment; for GET it includes the parameters
    body: bytes | None
    headers: dict[str, str]


def build_request(
    method: str,
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    idempotency_token: str,
) -> SignedRequest:
    """``url`` must already be without its fragment (see :func:`overrides.split_url`)."""
    validator = RequestValidator(auth_token)
    headers = {"User-Agent": USER_AGENT, "I-Twilio-Idempotency-Token": idempotency_token}
    if method == "GET":
        sep = "&" if "?" in url else "?"
        full = f"{url}{sep}{urlencode(list(params.items()))}" if params else url
        headers["X-Twilio-Signature"] = validator.compute_signature(full, {})
        return SignedRequest("GET", full, None, headers)
    headers["Content-Type"] = FORM
    headers["X-Twilio-Signature"] = validator.compute_signature(url, dict(params))
    return SignedRequest("POST", url, urlencode(list(params.items())).encode(), headers)
