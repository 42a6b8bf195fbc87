"""``X-Twilio-Signature``: which URL it is checked against, and the check itself.

Twilio signs the URL it requested. Behind a TLS-terminating proxy or a path-stripping
ingress the URL the app sees is not that one, so the URL is rebuilt from the configured
public base: ``CALLSTREAM_PUBLIC_URL`` without its trailing slash, plus the request path,
plus ``?`` and the raw query string when there is one. twilio-python's
:class:`RequestValidator` then tries that URL with and without the scheme's default port.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from twilio.request_validator import RequestValidator, add_port, remove_port

if TYPE_CHECKING:
    from callstream.accounts import Account
    from callstream.subaccounts import AccountBook

SIGNATURE_HEADER = b"x-twilio-signature"


class MultiParams(dict[str, list[str]]):
    """Form parameters grouped by name, in the shape RequestValidator reads repeated keys
    from: it iterates the names and calls ``getall(name)`` (as with Flask's MultiDict)."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str] | list[str]]) -> MultiParams:
        out = cls()
        for name, value in pairs:
            values = out.get(name)
            if values is None:
                out[name] = [value]
            else:
                values.append(value)
        return out


def signed_url(public_base: str, raw_path: str, raw_query: str) -> str:
    """The URL Twilio signed: public base (no trailing slash) + path + ``?query``."""
    url = public_base.rstrip("/") + raw_path
    if raw_query:
        url += "?" + raw_query
    return url


class SignatureChecker:
    """Checks signatures with one auth token (the account's primary token).

    :meth:`valid` is twilio-python's ``RequestValidator.validate`` as is. :meth:`valid_path`
    gives the same verdict for a URL under the configured public base, cheaper: the base's
    two port variants (made by the SDK's own ``remove_port``/``add_port``) are computed
    once, the common one is tried first, and the second HMAC only when the first misses.
    """

    def __init__(self, auth_token: str, public_base: str | None = None) -> None:
        if not auth_token:
            raise ValueError("an auth token is required to check signatures")
        self._validator = RequestValidator(auth_token)
        self._bases: tuple[str, ...] = ()
        if public_base is not None:
            parsed = urlparse(public_base.rstrip("/"))
            without, with_port = str(remove_port(parsed)), str(add_port(parsed))
            self._bases = (without,) if without == with_port else (without, with_port)

    def valid_path(self, path_and_query: str, params: MultiParams | None, sig: str | None) -> bool:
        """True when ``sig`` signs public base + ``path_and_query`` (+ POST ``params``)."""
        if not sig:
            return False
        given = sig.encode("utf-8", "surrogateescape")
        compute = self._validator.compute_signature
        for base in self._bases:
            expected = compute(base + path_and_query, params or {})
            if hmac.compare_digest(expected.encode("ascii"), given):
                return True
        return False

    def valid(self, url: str, params: MultiParams | None, signature: str | None) -> bool:
        """True when ``signature`` signs ``url`` plus the POST ``params`` (None for GET,
        whose parameters are already in the URL)."""
        if not signature:
            return False
        return bool(self._validator.validate(url, params or {}, signature))

    def sign(self, url: str, params: MultiParams | None) -> str:
        """The signature Twilio would send (used by tests and the benchmark)."""
        return str(self._validator.compute_signature(url, params or {}))


class AccountSigners:
    """Which tokens may sign a callback that names an account, as checkers.

    An account's own primary and secondary tokens (the secondary during a rotation); for a
    discovered subaccount also its parent's: Twilio signs with the token of the account
    that owns the call, and whoever holds the parent's token controls the subaccount
    anyway (docs/security.md). Checkers are made once per token and kept.
    """

    def __init__(self, book: AccountBook, public_base: str) -> None:
        self.book = book
        self.public_base = public_base
        self._checkers: dict[str, SignatureChecker] = {}

    def checkers(self, acct: Account) -> list[SignatureChecker]:
        tokens: list[str] = []
        for signer in self.book.signers(acct):
            tokens.extend(t for t in signer.tokens if t not in tokens)
        out = []
        for token in tokens:
            checker = self._checkers.get(token)
            if checker is None:
                checker = self._checkers[token] = SignatureChecker(token, self.public_base)
            out.append(checker)
        return out
