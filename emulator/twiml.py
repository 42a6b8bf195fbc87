"""Reading the TwiML an application answers with, safely. Pure.

Supported: ``<Say>``, ``<Pause length>``, ``<Hangup>``, and ``<Dial>`` (attributes
``timeout``, ``timeLimit``, ``callerId``) holding ``<Number>`` and ``<Client>`` nouns
(attributes ``statusCallback``, ``statusCallbackEvent`` — a space-separated list — and
``statusCallbackMethod``; a ``<Client>`` names its identity as text or in an
``<Identity>`` element) or a bare number as text. Anything else is kept as
:class:`Unsupported` and skipped by the caller. Documents with a DTD or entities are
refused (no entity expansion, no external fetches).
"""

from __future__ import annotations

import re

# DTDs and entities are refused before parsing (see parse), so the stdlib parser is safe here
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from callstream import clients
from emulator.createparams import DEFAULT_EVENTS, EVENTS

DEFAULT_DIAL_TIMEOUT = 30
DEFAULT_DIAL_TIME_LIMIT = 14400
MAX_TWIML_BYTES = 64 * 1024


class TwimlError(ValueError):
    """Not TwiML the emulator can follow (Twilio's 12100 "Document parse failure")."""


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Pause:
    length: float


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Number:
    number: str
    status_callback: str | None = None
    events: frozenset[str] = DEFAULT_EVENTS
    method: str = "POST"
    ignored_events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Client(Number):
    """A ``<Client>`` noun; ``number`` is its address, ``client:IDENTITY``, which is what
    the child leg's ``To`` shows."""


@dataclass(frozen=True)
class Dial:
    numbers: tuple[Number, ...]  # the nouns, <Number> and <Client>, in document order
    timeout: int = DEFAULT_DIAL_TIMEOUT
    time_limit: int = DEFAULT_DIAL_TIME_LIMIT
    caller_id: str | None = None


@dataclass(frozen=True)
class Unsupported:
    name: str


Verb = Say | Pause | Hangup | Dial | Unsupported


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _int_attr(el: ET.Element, name: str, default: int) -> int:
    raw = el.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return max(1, int(raw))
    except ValueError:
        raise TwimlError(f"<{_local(el.tag)} {name}> must be a whole number, not {raw!r}") from None


def parse_events(raw: str | None) -> tuple[frozenset[str], tuple[str, ...]]:
    """A TwiML ``statusCallbackEvent`` value: space-separated names. Unknown names are
    returned separately (and ignored); none valid means the default, ``completed``."""
    words = (raw or "").split()
    valid = frozenset(w.lower() for w in words if w.lower() in EVENTS)
    ignored = tuple(w for w in words if w.lower() not in EVENTS)
    return (valid or DEFAULT_EVENTS), ignored


def _noun(el: ET.Element) -> Number:
    kind = _local(el.tag)
    if kind == "Client":
        ident = next((c for c in el if _local(c.tag) == "Identity"), None)
        text = ((ident.text if ident is not None else el.text) or "").strip()
        if not clients.is_identity(text):
            # Twilio's 31105 "Invalid client name"
            raise TwimlError(f"<Client> must hold a valid client identity, not {text[:40]!r}")
        address = clients.address(text)
    else:
        address = (el.text or "").strip()
        if not address:
            raise TwimlError("<Number> must hold a number")
    method = (el.get("statusCallbackMethod") or "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"<{kind} statusCallbackMethod> must be GET or POST, not {method!r}")
    events, ignored = parse_events(el.get("statusCallbackEvent"))
    cls = Client if kind == "Client" else Number
    return cls(address, el.get("statusCallback") or None, events, method, ignored)


def _dial(el: ET.Element) -> Dial:
    numbers = [_noun(c) for c in el if _local(c.tag) in ("Number", "Client")]
    text = (el.text or "").strip()
    if not numbers and text:
        numbers = [Number(text)]
    if not numbers:
        raise TwimlError("<Dial> holds no <Number> or <Client> (other nouns are not emulated)")
    return Dial(
        tuple(numbers),
        timeout=_int_attr(el, "timeout", DEFAULT_DIAL_TIMEOUT),
        time_limit=_int_attr(el, "timeLimit", DEFAULT_DIAL_TIME_LIMIT),
        caller_id=el.get("callerId") or None,
    )


def parse(text: str) -> list[Verb]:
    if len(text.encode("utf-8", "replace")) > MAX_TWIML_BYTES:
        raise TwimlError("TwiML document too large")
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise TwimlError("TwiML must not contain a DTD or entity declarations")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD/entities can reach the parser
    except ET.ParseError as e:
        raise TwimlError(f"not well-formed XML: {e}") from None
    if _local(root.tag) != "Response":
        raise TwimlError("the root element must be <Response>")
    verbs: list[Verb] = []
    for el in root:
        name = _local(el.tag)
        if name == "Say":
            verbs.append(Say("".join(el.itertext()).strip()))
        elif name == "Pause":
            verbs.append(Pause(float(_int_attr(el, "length", 1))))
        elif name == "Hangup":
            verbs.append(Hangup())
        elif name == "Dial":
            verbs.append(_dial(el))
        else:
            verbs.append(Unsupported(name))
    return verbs


def say_seconds(say: Say) -> float:
    """Simulated speaking time: about 15 characters a second, at least one second."""
    return max(1.0, len(say.text) / 15.0)
