"""The routing decision of ``/twilio/voice`` (pure) and its TwiML: properties and the
hostile destinations a toll fraudster would try."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest import voice_routing as vr
from ingest.voice import EVENTS, twiml

CALLBACK = "https://hooks.example.com/twilio/status"
CALLER_ID = "+14155550100"
ALLOW = ("+1415", "+44")
CONFIG = vr.VoipConfig(caller_id=CALLER_ID, dial_allow=ALLOW)

HOSTILE_TO = [
    "+1415abc0100",  # '+' with letters
    "+1415555O100",  # a letter O for a zero
    "+14155550100,+14155550101",  # several numbers
    "+14155550100 +14155550101",
    "+14155550100;+14155550101",
    "+14155550100\n+14155550101",
    "sip:+14155550100@evil.example.com",  # SIP URIs
    "sip:alice@example.com",
    "sips:+14155550100@evil.example.com;transport=tls",
    "+1415" + "5" * 300,  # very long
    "+1" * 3000,
    "client:bad name",  # client names with spaces
    "client: alice",
    "client:alice bob",
    "client:",
    "client:<alice>",
    "client:alice\u00e9",
    "+14155550100 ",  # a trailing space
    "0014155550100",  # international prefix instead of '+'
    "14155550100",
    "++14155550100",
    "+0415555010",
    "tel:+14155550100",
    "",
    " ",
]


def client_call(to: str | None, frm: str = "client:alice") -> dict[str, list[str]]:
    params = {"From": [frm], "Caller": [frm]}
    if to is not None:
        params["To"] = [to]
    return params


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


@pytest.mark.parametrize("to", HOSTILE_TO)
def test_hostile_destinations_are_refused(to: str) -> None:
    decision = vr.route(client_call(to), CONFIG)
    assert isinstance(decision, vr.Refuse), (to, decision)
    assert decision.reason in vr.REASONS
    root = parse(twiml(decision, CALLBACK))
    assert root.find("Dial") is None
    assert [c.tag for c in root] == ["Say", "Hangup"]


def test_allowed_number_is_dialled_with_the_caller_id() -> None:
    decision = vr.route(client_call("+14155550123"), CONFIG)
    assert decision == vr.DialNumber("+14155550123", CALLER_ID)
    root = parse(twiml(decision, CALLBACK))
    dial = root.find("Dial")
    assert dial is not None and dial.attrib == {"callerId": CALLER_ID}
    number = dial.find("Number")
    assert number is not None and number.text == "+14155550123"
    assert number.attrib == {
        "statusCallbackEvent": EVENTS,
        "statusCallback": CALLBACK,
        "statusCallbackMethod": "POST",
    }


def test_reasons() -> None:
    assert vr.route(client_call("+33155550123"), CONFIG) == vr.Refuse("not-allowed")
    assert vr.route(client_call(None), CONFIG) == vr.Refuse("no-destination")
    no_id = vr.VoipConfig(dial_allow=ALLOW)
    assert vr.route(client_call("+14155550123"), no_id) == vr.Refuse("no-caller-id")
    mixed = {"From": ["client:alice"], "Caller": ["+14155550199"], "To": ["+14155550123"]}
    assert vr.route(mixed, CONFIG) == vr.Refuse("ambiguous-caller")
    bad_caller = client_call("+14155550123", frm="client:a b")
    assert vr.route(bad_caller, CONFIG) == vr.Refuse("malformed-caller")
    twice = {"From": ["client:alice"], "To": ["+14155550123", "+14155550124"]}
    assert vr.route(twice, CONFIG) == vr.Refuse("malformed-destination")
    assert vr.route({"From": ["+14155550199"]}, vr.VoipConfig()) == vr.Refuse("not-configured")
    # a REST call placed "from" a client, answered: not the client's call to the app
    rest = {**client_call("+33155550123"), "Direction": ["outbound-api"]}
    assert vr.route(rest, vr.VoipConfig(forward_to="client:bob")) == vr.DialClient("bob")
    assert vr.route({**client_call("client:bob"), "Direction": ["inbound"]}, CONFIG) == (
        vr.DialClient("bob")
    )


def test_client_to_client_and_forwarding() -> None:
    decision = vr.route(client_call("client:bob"), vr.VoipConfig())
    assert decision == vr.DialClient("bob")
    client = parse(twiml(decision, CALLBACK)).find("Dial/Client")
    assert client is not None and client.text == "bob"
    assert client.attrib["statusCallbackEvent"] == EVENTS
    assert client.attrib["statusCallback"] == CALLBACK
    pstn = {"From": ["+14155550199"], "Caller": ["+14155550199"], "To": ["+14155550100"]}
    to_bob = vr.VoipConfig(forward_to="client:bob")
    assert vr.route(pstn, to_bob) == vr.DialClient("bob")
    to_number = vr.VoipConfig(forward_to="+14155550123")
    assert vr.route(pstn, to_number) == vr.DialNumber("+14155550123", None)
    dial = parse(twiml(vr.DialNumber("+14155550123", None), CALLBACK)).find("Dial")
    assert dial is not None and "callerId" not in dial.attrib


def test_masked_never_shows_the_whole_number() -> None:
    assert vr.masked("+14155550123") == "+1415…(12)"
    assert vr.masked("+1") == "…(2)"
    assert vr.masked(None) is None
    assert vr.caller_for_log("client:alice") == "client:alice"
    assert vr.caller_for_log("+14155550199") == "+1415…(12)"


# -- properties ---------------------------------------------------------------------------
prefixes = st.lists(st.from_regex(r"\+[1-9][0-9]{0,4}", fullmatch=True), max_size=4).map(tuple)
configs = st.builds(
    vr.VoipConfig,
    forward_to=st.one_of(
        st.none(), st.just("+14155550123"), st.just("client:bob"), st.just("client:a_b.c@d-e")
    ),
    caller_id=st.one_of(st.none(), st.just(CALLER_ID)),
    dial_allow=prefixes,
)
names = st.sampled_from(["From", "Caller", "To", "Called", "Direction", "ApplicationSid"])
values = st.one_of(
    st.sampled_from(["inbound", "outbound-api", "outbound-dial"]),
    st.text(max_size=40),
    st.from_regex(r"\+[0-9]{1,16}", fullmatch=True),
    st.from_regex(r"client:[A-Za-z0-9_ .@:-]{0,12}", fullmatch=True),
    st.sampled_from(HOSTILE_TO),
)
param_maps = st.dictionaries(names, st.lists(values, min_size=1, max_size=3), max_size=6)


@given(param_maps, configs)
def test_a_client_only_ever_reaches_an_allowed_number_or_a_valid_client(
    params: dict[str, list[str]], config: vr.VoipConfig
) -> None:
    decision = vr.route(params, config)
    callers = params.get("From", []) + params.get("Caller", [])
    inbound = all(d == "inbound" for d in params.get("Direction", []))
    from_client = inbound and any(v.startswith("client:") for v in callers)
    if isinstance(decision, vr.DialNumber):
        if from_client:
            # only a single, allowed, E.164 To, with the configured caller ID
            assert params["To"] == [decision.number] or set(params["To"]) == {decision.number}
            assert vr.allowed(decision.number, config.dial_allow)
            assert decision.caller_id == config.caller_id is not None
        else:
            assert decision.number == config.forward_to and decision.caller_id is None
    elif isinstance(decision, vr.DialClient):
        if from_client:
            assert set(params["To"]) == {"client:" + decision.identity}
        else:
            assert config.forward_to == "client:" + decision.identity
    else:
        assert decision.reason in vr.REASONS


@given(param_maps, configs.map(lambda c: vr.VoipConfig(c.forward_to, c.caller_id, ())))
def test_an_empty_allow_list_never_dials_a_number_for_a_client(
    params: dict[str, list[str]], config: vr.VoipConfig
) -> None:
    params = {**params, "From": ["client:alice"]}
    params.pop("Caller", None)
    params.pop("Direction", None)
    assert not isinstance(vr.route(params, config), vr.DialNumber)


@given(param_maps, configs)
def test_twiml_dials_exactly_the_decision_and_subscribes_every_leg(
    params: dict[str, list[str]], config: vr.VoipConfig
) -> None:
    decision = vr.route(params, config)
    root = parse(twiml(decision, CALLBACK))
    nouns = root.findall("Dial/*")
    if isinstance(decision, vr.Refuse):
        assert nouns == [] and root.find("Hangup") is not None
        return
    [noun] = nouns
    assert noun.attrib["statusCallbackEvent"] == EVENTS
    assert noun.attrib["statusCallback"] == CALLBACK
    if isinstance(decision, vr.DialNumber):
        assert (noun.tag, noun.text) == ("Number", decision.number)
    else:
        assert (noun.tag, noun.text) == ("Client", decision.identity)


@given(st.text(max_size=60))
def test_masked_is_short(value: str) -> None:
    out = vr.masked(value)
    assert out is not None and len(out) <= 5 + 1 + len(f"({len(value)})")
    if len(value) > 5:
        assert value not in out
