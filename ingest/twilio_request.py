"""Reading a signed request from Twilio off the ASGI connection: content type, size limit
(enforced while reading, so an oversized body is never buffered whole), parameters,
``X-Twilio-Signature`` and the account. Shared by the status callback and voice routes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from callstream.ids import ACCOUNT_SID
from ingest.callback import MAX_BODY, CallbackError, Identity, identify, is_form, parse_pairs
from ingest.signature import SIGNATURE_HEADER, AccountSigners, MultiParams, SignatureChecker

IDEMPOTENCY_HEADER = b"i-twilio-idempotency-token"


class ClientGone(Exception):
    """The client disconnected before sending the whole body."""


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    """A request from Twilio whose signature and account ingest has checked (the
    emulator's outgoing, signed request is :class:`emulator.signing.SignedRequest`)."""

    method: str
    url: str  # the URL the signature was checked against
    params: list[list[str]]
    identity: Identity
    idempotency_token: str | None


class TwilioRequestReader:
    """``checker`` and ``account_sid``: the one account served when ``signers`` is None.

    With ``signers`` (several accounts), the AccountSid a request names picks the tokens
    its signature is checked with: an account callstream does not know (after one
    rate-limited listing of subaccounts), or a closed or suspended one, is refused with
    403 ``wrong-account``; a signature made with any other account's token with 403
    ``bad-signature``. A request whose AccountSid is missing or malformed is checked with
    the first account's tokens and then refused with 400 by :func:`identify`.
    """

    def __init__(
        self,
        checker: SignatureChecker,
        public_base: str,
        account_sid: str,
        signers: AccountSigners | None = None,
    ) -> None:
        self.checker = checker
        self.public_base = public_base.rstrip("/")
        self.account_sid = account_sid
        self.signers = signers

    async def read(self, scope: dict[str, Any], receive: Any) -> CheckedRequest:
        """Parse and check one request; raise CallbackError with the status to answer."""
        method: str = scope["method"]
        headers = dict(scope["headers"])
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope["query_string"]
        path_and_query = raw_path.decode("latin-1")
        if query:
            path_and_query += "?" + query.decode("latin-1")
        if method == "POST":
            if not is_form(_header(headers, b"content-type")):
                raise CallbackError(
                    415,
                    "unsupported-media-type",
                    "send the parameters as application/x-www-form-urlencoded",
                )
            length = _header(headers, b"content-length")
            if (
                length is not None
                and length.isascii()
                and length.isdigit()
                and (len(length) > 9 or int(length) > MAX_BODY)
            ):
                raise CallbackError(413, "too-large", f"the body is over {MAX_BODY} bytes")
            body = await read_body(receive, MAX_BODY)
            params = parse_pairs(body)
            signed: MultiParams | None = MultiParams.from_pairs(params)
        else:
            params = parse_pairs(query)
            signed = None
        signature = _header(headers, SIGNATURE_HEADER)
        if signature and sum(1 for n, _ in scope["headers"] if n == SIGNATURE_HEADER) > 1:
            # which copy would count is up to each proxy and parser on the way: none does
            raise CallbackError(
                403, "bad-signature", "the X-Twilio-Signature header is given more than once"
            )
        if not signature:
            raise CallbackError(
                403, "missing-signature", "the X-Twilio-Signature header is missing"
            )
        if self.signers is None:
            checkers, account_sid = [self.checker], self.account_sid
        else:
            checkers, account_sid = await self._account_checkers(params)
        if not any(c.valid_path(path_and_query, signed, signature) for c in checkers):
            raise CallbackError(403, "bad-signature", "the X-Twilio-Signature does not match")
        identity = identify(params, account_sid)
        return CheckedRequest(
            method,
            self.public_base + path_and_query,
            params,
            identity,
            _header(headers, IDEMPOTENCY_HEADER),
        )

    async def _account_checkers(
        self, params: list[list[str]]
    ) -> tuple[list[SignatureChecker], str]:
        assert self.signers is not None
        book = self.signers.book
        named = _named_account(params)
        if named is None:  # identify() says what is wrong with it
            return self.signers.checkers(book.first), book.first.sid
        acct = book.get(named)
        if acct is None and book.may_list():
            # a listing is a blocking REST call: off the event loop
            acct = await asyncio.to_thread(book.lookup, named)
        if acct is None:
            known = book.known(named)
            why = (
                f"the account is {known.status}"
                if known is not None
                else "the callback names an account callstream does not serve"
            )
            raise CallbackError(403, "wrong-account", why)
        return self.signers.checkers(acct), acct.sid


def _named_account(params: list[list[str]]) -> str | None:
    """The one well-formed AccountSid the parameters give, else None."""
    found: str | None = None
    for k, v in params:
        if k == "AccountSid":
            if found is not None and found != v:
                return None
            found = v
    return found if found is not None and ACCOUNT_SID.fullmatch(found) else None


async def read_body(receive: Any, limit: int) -> bytes:
    """The request body, refusing (413) as soon as more than ``limit`` bytes arrived."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise CallbackError(413, "too-large", f"the body is over {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")
