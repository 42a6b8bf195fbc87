"""Helpers for the ingest tests: Twilio-shaped callbacks, signed the way Twilio signs them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
from starlette.applications import Starlette
from twilio.request_validator import RequestValidator

from callstream.settings import Settings
from ingest.bootstrap import create_app
from ingest.signature import MultiParams
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, ServedApp, wait_until

PUBLIC = "https://hooks.example.com"
FORM = "application/x-www-form-urlencoded"


def call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def callback(
    sid: str, status: str = "ringing", seq: int = 0, **extra: str
) -> list[tuple[str, str]]:
    params = [
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", sid),
        ("CallStatus", status),
        ("CallbackSource", "call-progress-events"),
        ("Direction", "outbound-api"),
        ("From", "+15005550006"),
        ("SequenceNumber", str(seq)),
        ("Timestamp", "Tue, 31 Aug 2010 20:36:28 +0000"),
        ("To", "+14155551212"),
    ]
    params.extend(extra.items())
    return params


def form(pairs: Sequence[tuple[str, str]]) -> bytes:
    """``application/x-www-form-urlencoded`` exactly as a browser (or Twilio) writes it."""
    return "&".join(quote_plus(k) + "=" + quote_plus(v) for k, v in pairs).encode("ascii")


def sign(url: str, pairs: Sequence[tuple[str, str]] | None, token: str = AUTH_TOKEN) -> str:
    """Sign with the SDK itself, as Twilio would (repeated names through ``getall``)."""
    params = MultiParams.from_pairs(pairs) if pairs else {}
    return str(RequestValidator(token).compute_signature(url, params))


def post_callback(
    client: httpx.Client,
    pairs: Sequence[tuple[str, str]],
    query: str = "",
    path: str = "/twilio/status",
    public: str = PUBLIC,
    token: str = AUTH_TOKEN,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    url = public + path + (f"?{query}" if query else "")
    h = {"Content-Type": FORM, "X-Twilio-Signature": sign(url, pairs, token)}
    h.update(headers or {})
    return client.post(path + (f"?{query}" if query else ""), content=form(pairs), headers=h)


def get_callback(client: httpx.Client, pairs: Sequence[tuple[str, str]]) -> httpx.Response:
    query = form(pairs).decode()
    url = PUBLIC + "/twilio/status?" + query
    return client.get("/twilio/status?" + query, headers={"X-Twilio-Signature": sign(url, None)})


@contextmanager
def served_ingest(settings: Settings, **options: Any) -> Iterator[tuple[Starlette, httpx.Client]]:
    """The real ingest app served by uvicorn on loopback, and a client for it."""
    app = create_app(settings, "127.0.0.1", **options)
    with ServedApp(app) as served, httpx.Client(base_url=served.url, timeout=30) as client:
        yield app, client


def envelopes(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


@contextmanager
def ingest_process(
    settings: Settings, port: int, log: Path, workers: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """``callstream ingest`` (with ``--workers`` when more than one), once every process
    logged its "ready" line."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CALLSTREAM_PUBLIC_URL": settings.public_url or "",
        "CALLSTREAM_SPOOL": str(settings.spool),
        "CALLSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "CALLSTREAM_KAFKA_PROFILE": "tansu",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "callstream.cli", "ingest", "--port", str(port)]
            + (["--workers", str(workers)] if workers > 1 else []),
            env=env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_until(
            lambda: (
                log.read_bytes().count(b'"event": "ready"') >= workers or proc.poll() is not None
            ),
            timeout=30,
            what="ingest ready line",
        )
        assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
            # its workers would stop themselves (gracefully) soon: do not wait for that
            for pid in worker_pids(log).values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


def worker_pids(log: Path) -> dict[int, int]:
    """The pid of each ``--workers`` process, as its supervisor last logged it."""
    pids: dict[int, int] = {}
    for line in log.read_bytes().splitlines():
        if b'"event": "worker started"' in line:
            entry = json.loads(line)
            pids[entry["worker"]] = entry["pid"]
    return pids
