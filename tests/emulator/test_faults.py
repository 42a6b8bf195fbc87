"""REST create faults (429/5xx) for testing a client's retries."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from emulator import FaultSettings
from tests.emulator.conftest import TWIML, Emu


def _create(emu: Emu) -> str:
    sid: str = emu.client.calls.create(to="+15558675310", from_="+15005550006", twiml=TWIML).sid
    return sid


def test_faults_endpoint_counts_down(emu: Emu) -> None:
    r = httpx.post(emu.url + "/emulator/faults", json={"create_429": 2, "create_500": 1})
    assert r.status_code == 200 and r.json()["create_429"] == 2
    for code, status in ((20429, 429), (20429, 429), (20500, 500)):
        with pytest.raises(TwilioRestException) as info:
            _create(emu)
        assert (info.value.code, info.value.status) == (code, status)
    sid = _create(emu)
    assert [e["response_status"] for e in emu.requests()] == [429, 429, 500, 201]
    assert [e["call_sid"] for e in emu.requests()] == [None, None, None, sid]
    assert [c.sid for c in emu.client.calls.list()] == [sid]
    assert httpx.get(emu.url + "/emulator/faults").json()["create_429"] == 0


def test_500_created_is_in_doubt(emu: Emu) -> None:
    httpx.post(emu.url + "/emulator/faults", json={"create_500_created": 1})
    with pytest.raises(TwilioRestException) as info:
        _create(emu)
    assert info.value.status == 500
    [entry] = emu.requests()
    assert entry["call_sid"] is not None and entry["response_status"] == 500
    assert [c.sid for c in emu.client.calls.list()] == [entry["call_sid"]]


def test_fault_rates_and_config(make_emulator: Callable[..., Emu]) -> None:
    emu = make_emulator(faults=FaultSettings(create_429_rate=1.0, create_503=1), seed=1)
    with pytest.raises(TwilioRestException) as info:
        _create(emu)
    assert info.value.code == 20503
    with pytest.raises(TwilioRestException) as info:
        _create(emu)
    assert info.value.code == 20429


def test_bad_fault_bodies(emu: Emu) -> None:
    for body in ({"create_429": -1}, {"nope": 1}, {"create_429_rate": 2}, [1]):
        r = httpx.post(emu.url + "/emulator/faults", json=body)
        assert r.status_code == 400, body
