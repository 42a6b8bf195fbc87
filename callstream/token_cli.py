"""``callstream token --identity NAME [--ttl SECONDS]``: print a Twilio Voice SDK access
token for one client.

The token is twilio-python's ``AccessToken`` with a ``VoiceGrant``: outgoing calls go to
the TwiML application ``CALLSTREAM_TWIML_APP_SID`` (whose Voice URL is ingest's
``/twilio/voice``), incoming calls to ``client:NAME`` are allowed. It is signed with an API
key (``TWILIO_API_KEY``, ``TWILIO_API_SECRET``), never with the auth token. The token goes
to stdout and nowhere else: nothing is logged.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from callstream import clients
from callstream.digits import ascii_count

if TYPE_CHECKING:
    from callstream.settings import Settings

DEFAULT_TTL = 3600
MAX_TTL = 86400  # Twilio refuses access tokens valid for more than 24 hours
REQUIRED = ("twilio_account_sid", "twilio_api_key", "twilio_api_secret", "twiml_app_sid")


def _identity(raw: str) -> str:
    if not clients.is_identity(raw):
        raise argparse.ArgumentTypeError(
            f"must be 1 to 256 letters, digits or '_', '.', '-', '@' (no spaces), not {raw[:40]!r}"
        )
    return raw


def _ttl(raw: str) -> int:
    ttl = ascii_count(raw)
    if ttl is None or not 1 <= ttl <= MAX_TTL:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of seconds from 1 to {MAX_TTL}, not {raw[:20]!r}"
        )
    return ttl


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--identity", required=True, type=_identity, help="the client's identity (client:NAME)"
    )
    p.add_argument(
        "--ttl",
        type=_ttl,
        default=DEFAULT_TTL,
        help=f"seconds the token is valid (default {DEFAULT_TTL}, at most {MAX_TTL})",
    )


def mint(settings: Settings, identity: str, ttl: int) -> str:
    """The signed token (a JWT). ``settings`` must hold the :data:`REQUIRED` values."""
    from twilio.jwt.access_token import AccessToken
    from twilio.jwt.access_token.grants import VoiceGrant

    settings.require(*REQUIRED)
    token = AccessToken(
        settings.twilio_account_sid,
        settings.twilio_api_key,
        settings.twilio_api_secret,
        identity=identity,
        ttl=ttl,
    )
    grant = VoiceGrant(outgoing_application_sid=settings.twiml_app_sid, incoming_allow=True)
    token.add_grant(grant)
    jwt: str = token.to_jwt()
    return jwt


def run(args: argparse.Namespace) -> int:
    from callstream.settings import Settings

    print(mint(Settings.from_env(), args.identity, args.ttl))
    return 0
