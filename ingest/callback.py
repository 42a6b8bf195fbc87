"""A status callback as received: parse the form body or query string into ``[name, value]``
pairs exactly as sent, and check the identifiers. Pure: no I/O, no clock.

Nothing is normalised or dropped: order, repeated names, empty values and parameter names
callstream has never heard of are all kept, because the topic is the record of what Twilio
sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from callstream.ids import ACCOUNT_SID, CALL_SID

MAX_BODY = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


class CallbackError(Exception):
    """The request is not an acceptable callback: an HTTP status, a short code for the
    error body and the logs, and one sentence for a person."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def is_form(content_type: str | None) -> bool:
    """``application/x-www-form-urlencoded``, with or without parameters like charset."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == FORM_TYPE


def parse_pairs(raw: bytes) -> list[list[str]]:
    """Decode ``a=1&b=&a=2`` into ``[["a","1"],["b",""],["a","2"]]``.

    ``+`` is a space and ``%XX`` escapes are bytes of UTF-8, as in every HTML form. A field
    with no ``=`` is a name with an empty value; empty fields (``a=1&&b=2``) are not
    parameters. Anything that is not UTF-8 once unescaped raises :class:`CallbackError`.
    """
    out: list[list[str]] = []
    if not raw:
        return out
    try:
        text: str | None = raw.decode("ascii")
    except UnicodeDecodeError:
        text = None  # raw (unescaped) UTF-8 bytes: the slower byte-wise path below
    try:
        if text is not None:
            for f in text.split("&"):
                if f:
                    n, _, v = f.partition("=")
                    if "+" in n:
                        n = n.replace("+", " ")
                    if "%" in n:
                        n = unquote_to_bytes(n).decode("utf-8")
                    if "+" in v:
                        v = v.replace("+", " ")
                    if "%" in v:
                        v = unquote_to_bytes(v).decode("utf-8")
                    out.append([n, v])
        else:
            for field in raw.split(b"&"):
                if field:
                    name, _, value = field.partition(b"=")
                    out.append([_unquote(name), _unquote(value)])
    except UnicodeDecodeError:
        raise CallbackError(400, "malformed", "parameters are not UTF-8") from None
    return out


def _unquote(b: bytes) -> str:
    if b"+" in b:
        b = b.replace(b"+", b" ")
    if b"%" in b:
        b = unquote_to_bytes(b)
    return b.decode("utf-8")


@dataclass(frozen=True, slots=True)
class Identity:
    call_sid: str
    account_sid: str


def identify(pairs: list[list[str]], account_sid: str) -> Identity:
    """The callback's CallSid and AccountSid, checked.

    400 when either is missing, malformed or given twice with different values; 403 when
    the AccountSid is not the configured account.
    """
    call_sid = _only(pairs, "CallSid")
    account = _only(pairs, "AccountSid")
    if CALL_SID.fullmatch(call_sid) is None:
        raise CallbackError(
            400, "malformed-call-sid", "CallSid must be 'CA' followed by 32 hex digits"
        )
    if ACCOUNT_SID.fullmatch(account) is None:
        raise CallbackError(
            400, "malformed-account-sid", "AccountSid must be 'AC' followed by 32 hex digits"
        )
    if account != account_sid:
        raise CallbackError(403, "wrong-account", "the callback is for another account")
    return Identity(call_sid, account)


def _only(pairs: list[list[str]], name: str) -> str:
    found: str | None = None
    for k, v in pairs:
        if k == name:
            if found is not None and found != v:
                raise CallbackError(
                    400, "malformed", f"{name} is given twice with different values"
                )
            found = v
    if found is None:
        raise CallbackError(
            400,
            "missing-" + ("call-sid" if name == "CallSid" else "account-sid"),
            f"the callback has no {name}",
        )
    return found
