"""Twilio Voice SDK clients: identities and ``client:IDENTITY`` addresses. Pure.

Twilio writes a Voice SDK client as ``client:IDENTITY`` in ``From``, ``To`` and ``Caller``
and dials it with ``<Dial><Client>IDENTITY</Client></Dial>``. Its documentation allows up
to 256 characters without control, space, delimiter or "unwise" characters, and the mobile
SDKs only letters, digits and ``_``. callstream accepts the safe middle: 1 to 256 ASCII
letters, digits and ``_ . - @`` (so e-mail addresses work as identities), and refuses
anything else (spaces, ``:``, ``/``, ``<``, ``%``, ``+``, non-ASCII...).
"""

from __future__ import annotations

import re

PREFIX = "client:"
MAX_IDENTITY = 256
IDENTITY = re.compile(r"[A-Za-z0-9_.@-]{1,256}")  # MAX_IDENTITY


def is_identity(value: str) -> bool:
    return IDENTITY.fullmatch(value) is not None


def is_client_address(value: str) -> bool:
    """``client:`` followed by a valid identity."""
    return value.startswith(PREFIX) and is_identity(value[len(PREFIX) :])


def identity_of(address: str) -> str | None:
    """The identity of a ``client:IDENTITY`` address, or None when it is not one (or the
    identity is not valid)."""
    return address[len(PREFIX) :] if is_client_address(address) else None


def address(identity: str) -> str:
    return PREFIX + identity
