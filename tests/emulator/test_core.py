"""The pure core: CPS arithmetic, lifecycles, overrides, TwiML, scenarios, signing."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from emulator import lifecycle, twiml
from emulator.cpsqueue import CpsQueue
from emulator.createparams import parse_create
from emulator.errors import TwilioError
from emulator.overrides import Overrides, split_url
from emulator.scenarios import Outcome, ScenarioError, Scenarios
from emulator.signing import build_request


@given(
    cps=st.floats(min_value=0.1, max_value=100),
    arrivals=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=30),
    steps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=60),
)
def test_cps_queue_never_releases_faster_than_the_rate(
    cps: float, arrivals: list[float], steps: list[float]
) -> None:
    q = CpsQueue(cps)
    now = 0.0
    for i, t in enumerate(sorted(arrivals)):
        q.enqueue(f"CA{i}", t)
    released: list[float] = []
    for step in steps * 50:
        due = q.next_due(now)
        if due is None:
            break
        if now >= due:
            q.release(now)
            released.append(now)
        now += step
    gaps = [b - a for a, b in itertools.pairwise(released)]
    assert all(g >= 1 / cps - 1e-9 for g in gaps)


def test_cps_queue_estimates_and_cancel() -> None:
    q = CpsQueue(2.0)
    assert q.enqueue("A", 10.0) == 0.0
    assert q.release(10.0) == "A"
    assert q.enqueue("B", 10.0) == pytest.approx(0.5)
    assert q.enqueue("C", 10.0) == pytest.approx(1.0)
    assert q.cancel("B") and not q.cancel("B")
    assert q.next_due(10.1) == pytest.approx(10.5)
    with pytest.raises(RuntimeError):
        q.release(10.2)
    assert q.release(10.5) == "C" and q.next_due(11) is None


def test_plan_answered_default() -> None:
    steps = lifecycle.plan(Outcome(), timeout=60, time_limit=14400)
    assert [(s.at, s.event, s.status) for s in steps] == [
        (0.0, "initiated", "initiated"),
        (0.0, "ringing", "ringing"),
        (1.0, "answered", "in-progress"),
        (3.0, "completed", "completed"),
    ]
    assert steps[-1].call_duration == 2 and lifecycle.billed_minutes(steps[-1]) == 1
    assert [s.rest_status for s in steps] == ["ringing", "ringing", "in-progress", "completed"]


def test_billed_minutes_round_up() -> None:
    step = lifecycle.Step(0, "completed", "completed", 61, 200)
    assert lifecycle.billed_minutes(step) == 2
    assert lifecycle.billed_minutes(lifecycle.Step(0, "completed", "busy", 0, 486)) == 0


def test_hangup_rules() -> None:
    steps = lifecycle.plan(Outcome(ring=5, talk=10), timeout=60, time_limit=100)
    ringing = lifecycle.hangup(steps, 2.0, "canceled")
    assert ringing is not None and (ringing.status, ringing.sip_code) == ("canceled", 487)
    assert lifecycle.hangup(steps, 7.0, "canceled") is None
    done = lifecycle.hangup(steps, 7.0, "completed")
    assert done is not None and (done.status, done.call_duration) == ("completed", 2)


def test_overrides_parse_and_clamp() -> None:
    url, ov = split_url("https://h.example/x?a=1#ct=50&rt=99999&tt=2000&rc=9&rp=4xx,rt")
    assert url == "https://h.example/x?a=1"
    assert ov == Overrides(0.1, 15.0, 2.0, 5, frozenset({"4xx", "rt"}))
    assert split_url("http://h/x#rp=all")[1].retry_on == frozenset({"ct", "rt", "4xx", "5xx"})
    assert split_url("http://h/x")[1] == Overrides()


def test_signing_matches_twilio_vector() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    req = build_request(
        "POST", "https://mycompany.com/myapp.php?foo=1&bar=2", params, "12345", "tok"
    )
    assert req.headers["X-Twilio-Signature"] == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    get = build_request("GET", "https://h.example/cb?x=1", {"A": "b c"}, "12345", "tok")
    assert get.url == "https://h.example/cb?x=1&A=b+c"
    assert RequestValidator("12345").validate(get.url, {}, get.headers["X-Twilio-Signature"])


def test_twiml_parse() -> None:
    verbs = twiml.parse(
        '<Response><Say>Hi there</Say><Pause length="2"/><Dial timeout="10" callerId="+1555">'
        '<Number statusCallbackEvent="initiated  answered bogus" statusCallback="http://h/cb" '
        'statusCallbackMethod="get">+15550001111</Number></Dial><Play>x</Play><Hangup/></Response>'
    )
    say, pause, dial, play, hang = verbs
    assert say == twiml.Say("Hi there") and pause == twiml.Pause(2.0)
    assert isinstance(dial, twiml.Dial) and dial.timeout == 10 and dial.caller_id == "+1555"
    [n] = dial.numbers
    assert n.events == frozenset({"initiated", "answered"}) and n.method == "GET"
    assert n.ignored_events == ("bogus",)
    assert play == twiml.Unsupported("Play") and hang == twiml.Hangup()
    assert twiml.parse("<Response><Dial>+15550001111</Dial></Response>")[0] == twiml.Dial(
        (twiml.Number("+15550001111"),)
    )


@pytest.mark.parametrize(
    "doc",
    [
        '<!DOCTYPE Response [<!ENTITY a "aaaa">]><Response><Say>&a;</Say></Response>',
        "<Response><Say>unclosed</Response>",
        "<Other/>",
        "<Response><Dial></Dial></Response>",
    ],
)
def test_twiml_refused(doc: str) -> None:
    with pytest.raises(twiml.TwimlError):
        twiml.parse(doc)


def test_scenario_files(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text(
        '[default]\noutcome = "busy"\n\n[numbers."+15550001000"]\noutcome = "answered"\n'
        'ring = 3\ntalk = 30\n\n[numbers."+1555000200*"]\noutcome = "failed"\nsip_code = 503\n'
    )
    s = Scenarios.load(toml)
    assert s.outcome_for("+15550001000") == Outcome("answered", ring=3, talk=30)
    assert s.outcome_for("+15550002001") == Outcome("failed", sip_code=503)
    assert s.outcome_for("+15559999999").outcome == "busy"
    js = tmp_path / "s.json"
    js.write_text(
        '{"numbers": {"+15550001000": {"outcome": "machine", "answered_by": "machine_end_beep"}}}'
    )
    assert Scenarios.load(js).outcome_for("+15550001000").answered_by == "machine_end_beep"
    assert Scenarios.load(js).outcome_for("+1") == Outcome()


@pytest.mark.parametrize(
    "content",
    [
        '{"numbers": {"+1": {"outcome": "exploded"}}}',
        '{"numbers": {"+1": {"ringg": 1}}}',
        '{"extra": 1}',
        "not json",
    ],
)
def test_bad_scenario_files(tmp_path: Path, content: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(ScenarioError):
        Scenarios.load(p)


def test_create_params_defaults_and_amd() -> None:
    req = parse_create(
        [
            ("To", "+15550001111"),
            ("From", "client:alice"),
            ("Twiml", "<Response/>"),
            ("Timeout", "900"),
            ("MachineDetection", "Enable"),
        ]
    )
    assert req.events == frozenset({"completed"}) and req.timeout == 600
    assert req.status_callback is None and req.machine_detection == "Enable"
    with pytest.raises(TwilioError) as info:
        parse_create([("To", "+15550001111"), ("From", "+15550001112"), ("Url", "http://a_b/x")])
    assert info.value.code == 21205
    app = parse_create(
        [
            ("To", "+15550001111"),
            ("From", "+15550001112"),
            ("ApplicationSid", "AP" + "0" * 32),
            ("StatusCallback", "http://h/cb"),
        ]
    )
    assert app.status_callback is None
