"""Fixtures for the Twilio contract suite.

``target`` runs a test against the emulator and, when configured, against real Twilio:
set ``CALLSTREAM_REAL_TWILIO_ACCOUNT_SID``, ``CALLSTREAM_REAL_TWILIO_AUTH_TOKEN``,
``CALLSTREAM_REAL_TWILIO_FROM`` (a number of the account), ``CALLSTREAM_REAL_TWILIO_TO``
(a phone that answers), ``CALLSTREAM_REAL_PUBLIC_URL`` (a public HTTPS URL tunnelled to
``CALLSTREAM_REAL_RECEIVER_PORT`` on this machine, e.g. with ngrok). Without them the real
variant is skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from twilio.rest import Client

from emulator import EmulatorConfig, create_app
from tests.emulator.receiver import Receiver
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, ServedApp

REAL_ENV = (
    "CALLSTREAM_REAL_TWILIO_ACCOUNT_SID",
    "CALLSTREAM_REAL_TWILIO_AUTH_TOKEN",
    "CALLSTREAM_REAL_TWILIO_FROM",
    "CALLSTREAM_REAL_TWILIO_TO",
    "CALLSTREAM_REAL_PUBLIC_URL",
    "CALLSTREAM_REAL_RECEIVER_PORT",
)
FROM = "+15005550006"
TO = "+15558675310"  # not in any scenario: the built-in default (rings, answers, talks 2 s)
TWIML = "<Response><Say>Hello from callstream</Say></Response>"


@dataclass
class Emu:
    url: str
    client: Client
    config: EmulatorConfig
    app: Any

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url + "/emulator/requests").json())

    def callbacks(self, call_sid: str | None = None) -> list[dict[str, Any]]:
        params = {"call_sid": call_sid} if call_sid else {}
        return list(httpx.get(self.url + "/emulator/callbacks", params=params).json())

    def twiml_requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url + "/emulator/twiml-requests").json())

    def settled(self) -> bool:
        """True once every fired callback is delivered, failed or dropped."""
        return all(e["outcome"] != "pending" for e in self.callbacks())


@dataclass
class Target:
    name: str
    client: Client
    account_sid: str
    auth_token: str
    receiver: Receiver
    from_number: str
    to_number: str
    emu: Emu | None


def twilio_client(base_url: str, sid: str = ACCOUNT_SID, token: str = AUTH_TOKEN) -> Client:
    client = Client(sid, token)
    client.api.base_url = base_url
    return client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(AUTH_TOKEN)
    with ServedApp(r.app()) as served:
        r.public_base = served.url
        yield r


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emu]]:
    """Start an emulator (CPS 10, speed 20 unless told) served on a free loopback port."""
    stack = ExitStack()

    def make(**kw: Any) -> Emu:
        kw.setdefault("cps", 10.0)
        kw.setdefault("speed", 20.0)
        config = EmulatorConfig(ACCOUNT_SID, AUTH_TOKEN, **kw)
        app = create_app(config)
        served = stack.enter_context(ServedApp(app))
        return Emu(served.url, twilio_client(served.url), config, app)

    with stack:
        yield make


@pytest.fixture
def emu(make_emulator: Callable[..., Emu]) -> Emu:
    return make_emulator()


@pytest.fixture(params=["emulator", "twilio"])
def target(
    request: pytest.FixtureRequest, make_emulator: Callable[..., Emu], receiver: Receiver
) -> Iterator[Target]:
    if request.param == "emulator":
        e = make_emulator()
        yield Target("emulator", e.client, ACCOUNT_SID, AUTH_TOKEN, receiver, FROM, TO, e)
        return
    missing = [v for v in REAL_ENV if not os.environ.get(v)]
    if missing:
        pytest.skip(f"real Twilio run not configured ({missing[0]} unset; see {__name__})")
    env = os.environ
    sid, token = env["CALLSTREAM_REAL_TWILIO_ACCOUNT_SID"], env["CALLSTREAM_REAL_TWILIO_AUTH_TOKEN"]
    real = Receiver(token)
    with ServedApp(real.app(), port=int(env["CALLSTREAM_REAL_RECEIVER_PORT"])):
        real.public_base = env["CALLSTREAM_REAL_PUBLIC_URL"].rstrip("/")
        yield Target(
            "twilio",
            Client(sid, token),
            sid,
            token,
            real,
            env["CALLSTREAM_REAL_TWILIO_FROM"],
            env["CALLSTREAM_REAL_TWILIO_TO"],
            None,
        )
