"""HTTP/1.1 limits every callstream service enforces before its app sees a request.

uvicorn sets none of these for its httptools parser: no bound on the request line, on the
size or number of header fields, and no deadline for reading a request's head or body
(``h11_max_incomplete_event_size`` exists only for the h11 parser, and
``timeout_keep_alive`` only covers the idle time *between* requests). A client could send
50 MB of headers, or hold a connection open for ever by dribbling one byte at a time.
:class:`LimitedHttpToolsProtocol` is uvicorn's httptools protocol with those bounds added,
and with every answer uvicorn itself would give in plain text (malformed request) given in
callstream's JSON error shape instead.

The bounds (:class:`HttpLimits`) are generous for what the services receive: a Twilio
callback's head is well under 2 KiB, and a ``GET`` callback's query string a few KiB.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("callstream.web")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_request_line: int = 8 * 1024  # bytes of the request target (path + query)
    max_header_bytes: int = 16 * 1024  # names + values of all header fields
    max_headers: int = 64  # header fields
    head_timeout_s: float = (
        10.0  # from the first byte of a request (or the connection) to its end of head
    )
    body_timeout_s: float = 15.0  # from the end of the head to the end of the body

    @property
    def max_head_bytes(self) -> int:
        """Everything before the body: request line, fields, separators (4 bytes a field)."""
        return self.max_request_line + self.max_header_bytes + 4 * self.max_headers + 64


DEFAULT_LIMITS = HttpLimits()
LINGER_S = 1.0  # how long a refused connection is drained before it is closed


class Refused(Exception):
    """Raised inside a parser callback: answer ``status`` with the JSON error and close."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_bytes(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with the JSON error body, closing the connection."""
    body = json.dumps({"error": code, "message": message}).encode()
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`HttpLimits` enforced.

    Head bytes are counted as they arrive (httptools buffers a field until it is whole, so
    waiting for the field would let one huge header fill memory); the request line, field
    count and field bytes are checked exactly in the parser callbacks. One timer per
    connection covers the phase it is in: reading a head, or reading a body.
    """

    limits: HttpLimits = DEFAULT_LIMITS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._header_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._completed = False  # a message ended during the current feed
        self._refused = False

    # -- connection -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # a connection that never sends a byte is dropped after the head timeout too
        self._arm(self.limits.head_timeout_s, "head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._reading_head and self._timer is None:
            self._arm(self.limits.head_timeout_s, "head")
        self._completed = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            cause = e.__context__
            if isinstance(cause, Refused):
                self._refuse(cause.status, cause.code, cause.message)
            else:
                self._refuse(400, "bad-request", "the request could not be parsed")
            return
        except httptools.HttpParserUpgrade:
            # no protocol upgrades (websockets) here: the request is answered as plain HTTP
            return
        except httptools.HttpParserError:
            self._refuse(400, "bad-request", "the request is not valid HTTP/1.1")
            return
        if self._reading_head:
            if self._completed:
                # this chunk ended one request and began the next: its share is unknown,
                # so the next chunk starts the count (the exact checks still apply)
                self._head_bytes = 0
            else:
                self._head_bytes += len(data)
                if self._head_bytes > self.limits.max_head_bytes:
                    self._refuse(
                        431,
                        "headers-too-large",
                        f"the request head is over {self.limits.max_head_bytes} bytes",
                    )

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "bad-request", "the request is not valid HTTP/1.1")

    # -- parser callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # a pipelined request's head starts its own clock
            self._arm(self.limits.head_timeout_s, "head")
        self._reading_head = True
        self._header_count = 0
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            raise Refused(
                414,
                "uri-too-long",
                f"the request target is over {self.limits.max_request_line} bytes",
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value)
        if self._header_count > self.limits.max_headers:
            raise Refused(
                431, "headers-too-large", f"more than {self.limits.max_headers} header fields"
            )
        if self._header_bytes > self.limits.max_header_bytes:
            raise Refused(
                431,
                "headers-too-large",
                f"the header fields are over {self.limits.max_header_bytes} bytes",
            )
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._arm(self.limits.body_timeout_s, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_head = True
        self._completed = True
        super().on_message_complete()

    # -- refusing and timing out --------------------------------------------------------
    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._timed_out, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self, phase: str) -> None:
        self._timer = None
        seconds = self.limits.head_timeout_s if phase == "head" else self.limits.body_timeout_s
        self._refuse(
            408, "request-timeout", f"the request {phase} did not arrive within {seconds:g} s"
        )

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` and close the connection; nothing more is read from it.

        A request whose body is being read is told the client is gone (its answer, if any,
        is dropped). A refused pipelined request waits for the answer to the one before it,
        which is sent whole, and then the connection closes without a word for it.
        """
        self._refused = True
        self._disarm()
        log.warning(
            "request refused",
            extra={"status": status, "reason": code, "detail": message, "client": _peer(self)},
        )
        cycle = self.cycle
        busy = cycle is not None and not cycle.response_complete
        if busy and self._reading_head:
            # a later (pipelined) request is refused while an earlier one is still being
            # answered: let that answer finish, then close; read nothing more meanwhile
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        if not self.transport.is_closing():
            if not (busy and cycle.response_started):
                self.transport.write(error_bytes(status, code, message))
            # Half-close and keep discarding what the client still sends for a moment:
            # closing with unread data makes the kernel send a reset, which can destroy the
            # answer before the client reads it.
            if self.transport.can_write_eof():
                self.transport.write_eof()
                self.loop.call_later(LINGER_S, self.transport.close)
            else:
                self.transport.close()
        if busy:
            cycle.disconnected = True
            cycle.message_event.set()


def _peer(p: HttpToolsProtocol) -> str:
    return f"{p.client[0]}:{p.client[1]}" if p.client else ""
