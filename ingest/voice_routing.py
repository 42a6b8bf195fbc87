"""Where ``/twilio/voice`` sends a call: the routing decision, with no I/O. Pure.

Twilio requests the voice URL for two kinds of call:

* a call to one of the account's numbers (or a REST call whose ``Url`` is this route):
  it goes to ``CALLSTREAM_FORWARD_TO``, a number or a ``client:IDENTITY``;
* a call placed by a Voice SDK client through the TwiML application (``From`` or
  ``Caller`` is ``client:IDENTITY``, ``Direction`` is ``inbound``, as Twilio sends for
  such a call): the client chose ``To``, so ``To`` is untrusted input.
  A ``client:IDENTITY`` destination rings that client; an E.164 number is dialled with
  ``CALLSTREAM_CALLER_ID`` only if it starts with one of the ``CALLSTREAM_DIAL_ALLOW``
  prefixes. Anything else is refused. Whoever can make this route dial any number can
  run up the account's bill (toll fraud), so the default allow-list is empty and refuses
  every number.

The caller of :func:`route` turns the decision into TwiML and logs refusals; a refusal's
``reason`` is a short code from :data:`REASONS` (safe as a metric label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from callstream import clients
from callstream.ids import is_e164

# Longer than any E.164 number or client address callstream would dial; anything longer is
# refused before any other check looks at it.
MAX_TO = 7 + clients.MAX_IDENTITY

# Why a call was refused (metric label values).
REASONS = (
    "no-destination",  # a client call without a To
    "not-allowed",  # a well-formed E.164 number outside CALLSTREAM_DIAL_ALLOW
    "malformed-destination",  # not an E.164 number nor a valid client:IDENTITY
    "no-caller-id",  # an allowed number, but CALLSTREAM_CALLER_ID is not set
    "ambiguous-caller",  # From and Caller disagree, one of them a client
    "malformed-caller",  # From/Caller is client: with an identity callstream refuses
    "not-configured",  # a call to the account with no CALLSTREAM_FORWARD_TO
)


@dataclass(frozen=True)
class VoipConfig:
    forward_to: str | None = None  # E.164 or client:IDENTITY (checked by Settings)
    caller_id: str | None = None
    dial_allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class DialNumber:
    number: str
    caller_id: str | None  # None: Twilio's default, the caller's own number


@dataclass(frozen=True)
class DialClient:
    identity: str


@dataclass(frozen=True)
class Refuse:
    reason: str


Route = DialNumber | DialClient | Refuse


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The parameter's value; None when absent. Several different values count as
    malformed (returned as a value that matches nothing: a newline-joined string)."""
    values = list(dict.fromkeys(params.get(name, ())))
    if not values:
        return None
    return values[0] if len(values) == 1 else "\n".join(values)


def caller_client(params: Mapping[str, Sequence[str]]) -> str | Refuse | None:
    """The calling client's identity; None for a call that is not from a client (no
    ``From`` or ``Caller`` value names one); a Refuse when the values disagree (a client and
    something else, given twice...) or name an identity callstream refuses."""
    values = list(dict.fromkeys([*params.get("From", ()), *params.get("Caller", ())]))
    if not any(v.startswith(clients.PREFIX) for v in values):
        return None
    if any(d != "inbound" for d in params.get("Direction", ())):
        # Not the client's own call to the TwiML app: a REST call placed "from" a client
        # whose Url is this route is already connected to its To.
        return None
    if len(values) != 1:
        return Refuse("ambiguous-caller")
    identity = clients.identity_of(values[0])
    return identity if identity is not None else Refuse("malformed-caller")


def allowed(number: str, allow: Sequence[str]) -> bool:
    return is_e164(number) and any(number.startswith(p) for p in allow)


def client_destination(to: str | None, config: VoipConfig) -> Route:
    """Where a call placed by a Voice SDK client goes: ``to`` is whatever the client sent."""
    if to is None or to.strip() == "":
        return Refuse("no-destination")
    if len(to) > MAX_TO:
        return Refuse("malformed-destination")
    if to.startswith(clients.PREFIX):
        identity = clients.identity_of(to)
        return DialClient(identity) if identity is not None else Refuse("malformed-destination")
    if not is_e164(to):
        return Refuse("malformed-destination")
    if not allowed(to, config.dial_allow):
        return Refuse("not-allowed")
    if config.caller_id is None:
        return Refuse("no-caller-id")
    return DialNumber(to, config.caller_id)


def forward(config: VoipConfig) -> Route:
    target = config.forward_to
    if target is None:
        return Refuse("not-configured")
    identity = clients.identity_of(target)
    if identity is not None:
        return DialClient(identity)
    return DialNumber(target, None)


def route(params: Mapping[str, Sequence[str]], config: VoipConfig) -> Route:
    """The decision for one signed ``/twilio/voice`` request (``params``: name -> values)."""
    caller = caller_client(params)
    if isinstance(caller, Refuse):
        return caller
    if caller is None:
        return forward(config)
    return client_destination(_single(params, "To"), config)


def masked(value: str | None, keep: int = 5) -> str | None:
    """A destination for a log line: its first ``keep`` characters and its length, never
    the whole number (``+4415…(13)``)."""
    if value is None:
        return None
    head = value[:keep].replace("\n", " ")
    return f"{head}…({len(value)})" if len(value) > keep else f"…({len(value)})"


def caller_for_log(from_: str | None) -> str | None:
    """A client's address as is (at most 64 characters: it names who tried), a phone
    number masked like a destination."""
    if from_ is not None and from_.startswith(clients.PREFIX):
        return from_[:64]
    return masked(from_)
