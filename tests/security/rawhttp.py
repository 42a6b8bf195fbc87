"""Raw HTTP/1.1 over a loopback socket, for requests no client library would send (a
megabyte of headers, a head dribbled one byte a second, bytes that are not HTTP), and an
app served in a thread by callstream's own server factory (with its HTTP limits)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from callstream import web
from callstream.broker import free_port
from callstream.httplimits import DEFAULT_LIMITS, HttpLimits
from tests.helpers import wait_until


@contextmanager
def served(app: Any, limits: HttpLimits = DEFAULT_LIMITS) -> Iterator[int]:
    """``app`` under :func:`callstream.web.make_server` on a free loopback port."""
    port = free_port()
    server = web.make_server(app, "127.0.0.1", port, "test", limits=limits)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=15, what="server started")
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@dataclass
class Answer:
    status: int | None  # None: the connection closed without an answer
    headers: dict[str, str]
    body: bytes
    elapsed_s: float

    def json(self) -> Any:
        return json.loads(self.body)


def parse(raw: bytes, elapsed_s: float) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head:
        return Answer(None, {}, b"", elapsed_s)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body, elapsed_s)


def exchange(port: int, *chunks: bytes, gap_s: float = 0.0, timeout_s: float = 60.0) -> Answer:
    """Send ``chunks`` (``gap_s`` apart) and read until the server closes the connection."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        try:
            for i, c in enumerate(chunks):
                if i and gap_s:
                    time.sleep(gap_s)
                s.sendall(c)
        except OSError:
            pass  # the server refused and closed: read what it answered
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except OSError:
            pass
    return parse(out, time.monotonic() - t0)


def dribble(port: int, head: bytes, every_s: float = 1.0, limit_s: float = 60.0) -> Answer:
    """Send ``head`` then one more header byte every ``every_s`` seconds, never ending the
    head: a slowloris client. Returns what the server answered when it dropped us."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as s:
        s.sendall(head)
        s.settimeout(every_s)
        out = b""
        while time.monotonic() - t0 < limit_s:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                try:
                    s.sendall(b"x")
                except OSError:
                    break
                continue
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return parse(out, time.monotonic() - t0)
