"""Helpers for the dialer's end-to-end tests: enqueue requests, run a dialer in a thread or
as a ``callstream dialer`` process, read outcomes, check the gap rule."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from callstream import kafka_clients, topics
from callstream.broker import free_port
from callstream.dialrequest import DialRequest, from_input
from callstream.settings import Settings
from dialer.bootstrap import build
from dialer.loop import Dialer
from dialer.retry import Backoff
from dialer.twilio_api import TwilioCalls
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, read_topic, wait_until

ROOT = Path(__file__).resolve().parents[2]
# the installed console script (python -m callstream.cli would load the CLI module twice)
CALLSTREAM = [sys.executable, "-c", "import sys; from callstream.cli import main; sys.exit(main())"]


def with_twilio(settings: Settings, url: str, cps: float) -> Settings:
    return replace(settings, twilio_api_url=url, cps=cps)


def make_requests(n: int, prefix: str = "r", **fields: Any) -> list[DialRequest]:
    out = []
    for i in range(n):
        body: dict[str, Any] = {
            "to": f"+1415555{i:04d}",
            "from": "+14155550000",
            "id": f"{prefix}{i}-{uuid.uuid4().hex[:6]}",
        }
        if "url" not in fields:  # inline TwiML: the emulator fetches nothing off this host
            body["twiml"] = "<Response><Say>Hello from callstream</Say></Response>"
        body.update(fields)
        out.append(from_input(body, ACCOUNT_SID))
    return out


def enqueue(settings: Settings, reqs: list[DialRequest], raw: list[bytes] | None = None) -> None:
    p = kafka_clients.make_producer(settings, "test-enqueue", linger_ms=0)
    try:
        topic = settings.topic(topics.DIALER_REQUESTS)
        futs = [p.send(topic, r.to_json(), key=r.account_sid.encode()) for r in reqs]
        futs += [p.send(topic, v, key=ACCOUNT_SID.encode()) for v in raw or []]
        for f in futs:
            f.get(timeout=10)
    finally:
        p.close(timeout=5)


def outcomes(settings: Settings, expect: int | None = None, timeout: float = 60) -> list[Any]:
    recs = read_topic(
        settings, settings.topic(topics.DIALER_OUTCOMES), expect=expect, timeout=timeout
    )
    return [json.loads(r.value) for r in recs]


def dead_letters(settings: Settings, expect: int | None = None) -> list[Any]:
    recs = read_topic(settings, settings.topic(topics.DIALER_DEAD_LETTER), expect=expect)
    return [json.loads(r.value) for r in recs]


def gaps(times: list[float]) -> list[float]:
    ts = sorted(times)
    return [b - a for a, b in itertools.pairwise(ts)]


def assert_gap_rule(received: list[dict[str, Any]], cps: float) -> list[float]:
    """Every create request, as received, at least 1/CPS after the one before it."""
    g = gaps([r["received_at"] for r in received])
    assert not g or min(g) >= 1.0 / cps, f"gap under {1.0 / cps:.3f} s: {sorted(g)[:5]}"
    return g


def dialed_ids(received: list[dict[str, Any]]) -> list[str]:
    """The request ids as the receiver saw them (the To number identifies a request)."""
    return [dict((k, v) for k, v in r["params"])["To"] for r in received if r.get("call_sid")]


class ThreadDialer:
    """A Dialer in a thread of the test process."""

    def __init__(self, settings: Settings, url: str, **kw: Any) -> None:
        calls = TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, url, timeout_s=5)
        kw.setdefault("backoff", Backoff(base_s=0.05, cap_s=0.2, max_attempts=5))
        kw.setdefault("http_timeout_s", 5.0)
        profile = kafka_clients.PROFILES[settings.kafka_profile or "tansu"]  # the test broker's
        self.dialer = build(settings, profile=profile, calls=calls, **kw)
        self.thread = threading.Thread(target=self.dialer.run, daemon=True)

    def __enter__(self) -> Dialer:
        self.thread.start()
        wait_until(lambda: self.dialer.status()[0], timeout=30, what="dialer ready")
        return self.dialer

    def __exit__(self, *exc: object) -> None:
        self.dialer.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def dialer_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "CALLSTREAM_"))}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
            "CALLSTREAM_KAFKA_PROFILE": settings.kafka_profile or "tansu",
            "CALLSTREAM_TOPIC_PREFIX": settings.topic_prefix,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_URL": settings.twilio_api_url,
            "CALLSTREAM_PUBLIC_URL": settings.public_url or "https://hooks.example.com",
            "CALLSTREAM_CPS": str(settings.cps),
        }
    )
    return env


class DialerProcess:
    """``callstream dialer`` as a child process, its log in a file."""

    def __init__(
        self, settings: Settings, log_dir: Path, name: str, http_timeout: float = 1.0
    ) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "callstream.cli",
                "dialer",
                "--port",
                str(self.port),
                "--http-timeout",
                str(http_timeout),
            ],
            env=dialer_env(settings),
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_assigned(self, timeout: float = 30) -> None:
        wait_until(
            lambda: (
                any(x.get("event") == "ledger read" for x in self.lines())
                or self.proc.poll() is not None
            ),
            timeout=timeout,
            what=f"dialer {self.log_path.name} owns partitions",
        )
        assert self.proc.poll() is None, self.log_path.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def close(self) -> None:
        self.kill()
        self.log.close()
