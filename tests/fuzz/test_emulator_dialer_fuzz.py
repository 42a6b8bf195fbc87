"""Fuzz the emulator (Twilio's REST paths and its own ``/emulator/*`` routes) and the
dialer's health app: no 5xx (the emulator's injected faults are reset after every case),
Twilio's error JSON on REST paths, JSON errors elsewhere, no traceback, still serving."""

from __future__ import annotations

import base64
import gc
import json
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callstream import kafka_clients
from callstream.settings import Settings
from dialer.app import create_app as dialer_app
from dialer.bootstrap import build
from dialer.twilio_api import TwilioCalls
from emulator import EmulatorConfig, FaultSettings
from emulator import create_app as emulator_app
from tests.fuzz.support import (
    FUZZ,
    FUZZ_MORE,
    InProcess,
    Req,
    bodies,
    check_json_error,
    check_response,
    json_values,
    nasty_text,
    pct,
    requests,
    send,
)
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN

# Background threads of the apps under test (Kafka clients, the emulator's engine) use the
# random module while Hypothesis draws; that is not randomness inside our strategies.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


PREFIX = "/2010-04-01/Accounts/{account}"
EMU_ROUTES = {
    "POST .../Calls.json": (PREFIX + "/Calls.json", ["POST"]),
    "GET .../Calls.json": (PREFIX + "/Calls.json", ["GET"]),
    "GET .../Calls/{sid}.json": (PREFIX + "/Calls/{sid}.json", ["GET"]),
    "POST .../Calls/{sid}.json": (PREFIX + "/Calls/{sid}.json", ["POST"]),
    "DELETE .../Calls/{sid}.json": (PREFIX + "/Calls/{sid}.json", ["DELETE"]),
    "GET /emulator/requests": ("/emulator/requests", ["GET"]),
    "GET /emulator/callbacks": ("/emulator/callbacks", ["GET"]),
    "GET /emulator/twiml-requests": ("/emulator/twiml-requests", ["GET"]),
    "GET|POST /emulator/faults": ("/emulator/faults", ["GET", "POST"]),
    "POST /emulator/inbound": ("/emulator/inbound", ["POST"]),
    "GET /livez /readyz /metrics": ("/livez", ["GET"]),
}
TWILIO_ERROR_KEYS = ("code", "message", "more_info", "status")


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


basic_auth = st.one_of(
    st.just([(b"authorization", basic(ACCOUNT_SID, AUTH_TOKEN))]),
    st.just([(b"authorization", basic(ACCOUNT_SID, AUTH_TOKEN))]),
    st.just([]),
    st.sampled_from(
        [
            basic(ACCOUNT_SID, AUTH_TOKEN + "x"),
            basic("AC" + "f" * 32, AUTH_TOKEN),
            b"Basic !!!notbase64",
            b"Basic " + base64.b64encode(b"\xff\xfe:\x00"),
            b"Basic " + base64.b64encode(b"nocolon"),
            b"Bearer " + AUTH_TOKEN.encode(),
            b"Basic",
        ]
    ).map(lambda v: [(b"authorization", v)]),
)
segments = st.one_of(nasty_text, st.just(ACCOUNT_SID), st.just("CA" + "0" * 32))
numbers = st.one_of(
    st.sampled_from(["+15005550006", "+14155550100", "client:alice", "sip:a@b.c", "+1", ""]),
    nasty_text,
)
create_forms = st.fixed_dictionaries(
    {"To": numbers, "From": numbers},
    optional={
        "Url": st.one_of(st.just("http://127.0.0.1:9/twiml"), nasty_text),
        "Twiml": st.one_of(st.just("<Response><Hangup/></Response>"), nasty_text),
        "StatusCallback": st.one_of(st.just("http://127.0.0.1:9/cb"), nasty_text),
        "StatusCallbackEvent": st.one_of(
            st.sampled_from(["initiated", "ringing answered", "completed", "bogus"]), nasty_text
        ),
        "StatusCallbackMethod": st.one_of(st.sampled_from(["GET", "POST", "PUT"]), nasty_text),
        "Timeout": st.one_of(st.sampled_from(["0", "600", "-1", "1e9", "x"]), nasty_text),
        "Status": st.one_of(st.sampled_from(["canceled", "completed", "busy"]), nasty_text),
        "MachineDetection": nasty_text,
    },
)


def _form(d: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(d).encode()


inbound_bodies = st.fixed_dictionaries(
    {},
    optional={
        "from": st.one_of(numbers, json_values),
        "to": st.one_of(numbers, json_values),
        "voice_url": st.one_of(st.just("http://127.0.0.1:9/voice"), nasty_text, json_values),
        "status_callback": st.one_of(st.just("http://127.0.0.1:9/cb"), nasty_text, json_values),
        "status_callback_method": json_values,
        "account_sid": st.one_of(st.just(ACCOUNT_SID), json_values),
    },
).map(lambda d: json.dumps(d).encode())
fault_bodies = st.one_of(
    st.dictionaries(
        st.sampled_from(["create_429", "create_500", "create_429_rate", "create_500_rate", "x"]),
        st.one_of(json_values, st.floats(), st.integers()),
        max_size=3,
    ).map(lambda d: json.dumps(d).encode()),
    bodies,
)


def test_fuzz_emulator() -> None:
    config = EmulatorConfig(ACCOUNT_SID, AUTH_TOKEN, cps=50.0, speed=50.0, seed=1)
    app = emulator_app(config)
    engine = app.state.engine

    async def reset_faults() -> None:
        engine.faults.replace(FaultSettings())

    with InProcess(app) as emu:

        def check(req: Req) -> None:
            r = send(emu, req)
            emu.run(reset_faults())
            check_response(r, req)
            if req.path.startswith("/2010-04-01/"):
                check_json_error(r, req, TWILIO_ERROR_KEYS)
            elif req.path.startswith("/emulator/"):
                check_json_error(r, req)

        @FUZZ_MORE
        @given(req=requests("emulator", EMU_ROUTES, segment=segments, extra_headers=basic_auth))
        def random_requests(req: Req) -> None:
            check(req)

        @FUZZ
        @given(
            form=create_forms,
            auth=basic_auth,
            sid=segments,
            which=st.sampled_from(["create", "update"]),
        )
        def rest_forms(
            form: dict[str, str], auth: list[tuple[bytes, bytes]], sid: str, which: str
        ) -> None:
            path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
            if which == "update":
                path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{pct(sid)}.json"
            hs = [*auth, (b"content-type", b"application/x-www-form-urlencoded")]
            check(
                Req(f"emulator POST .../Calls (form, {which})", "POST", path, "", hs, _form(form))
            )

        @FUZZ
        @given(body=st.one_of(inbound_bodies, bodies), faults=fault_bodies)
        def admin_json(body: bytes | None, faults: bytes | None) -> None:
            hs = [(b"content-type", b"application/json")]
            check(
                Req(
                    "emulator POST /emulator/inbound (json)",
                    "POST",
                    "/emulator/inbound",
                    "",
                    hs,
                    body,
                )
            )
            check(
                Req(
                    "emulator POST /emulator/faults (json)",
                    "POST",
                    "/emulator/faults",
                    "",
                    hs,
                    faults,
                )
            )

        random_requests()
        rest_forms()
        admin_json()
        assert emu.request("GET", "/livez").status_code == 200
        r = emu.request(
            "GET",
            f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
            [(b"authorization", basic(ACCOUNT_SID, AUTH_TOKEN))],
        )
        assert r.status_code == 200, r.text


def test_fuzz_dialer_health(settings: Settings) -> None:
    profile = kafka_clients.TANSU if settings.kafka_profile == "tansu" else kafka_clients.KAFKA
    calls = TwilioCalls(ACCOUNT_SID, AUTH_TOKEN, "http://127.0.0.1:9", timeout_s=2)
    dialer = build(settings, profile=profile, calls=calls)
    routes = {
        "GET /livez": ("/livez", ["GET"]),
        "GET /readyz": ("/readyz", ["GET"]),
        "GET /metrics": ("/metrics", ["GET"]),
    }
    with InProcess(dialer_app(dialer, exit_on_failure=False)) as app:

        @FUZZ
        @given(req=requests("dialer", routes))
        def random_requests(req: Req) -> None:
            r = send(app, req)
            # /readyz answers 503 until the dialer has its partitions (documented)
            readyz = req.path == "/readyz"
            check_response(r, req, allow=(503,) if readyz else ())
            if readyz and r.status_code == 503 and req.method != "HEAD":
                assert r.json()["status"] == "not-ready"

        random_requests()
        assert app.request("GET", "/livez").status_code == 200
    # kafka-python 3.0.12 can leave a socket it was still connecting when the dialer's
    # clients closed (see tests/ingest/conftest.py); collect it here, that warning silenced
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ResourceWarning, message="unclosed <socket")
        gc.collect()
