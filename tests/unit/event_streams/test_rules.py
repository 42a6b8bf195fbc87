"""Properties of the pure Event Streams cores: the ingest check agrees with twilio-python's
RequestValidator on whatever the emulator signs, a changed body or URL never passes, and
reading a batch keeps every callback parameter exactly."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from emulator.event_sink import MAX_BACKOFF_S, backoff, cloud_event, sign_json
from ingest.callback import CallbackError
from ingest.event_streams import EventsSignature, parse_batch
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN

URLS = st.sampled_from(
    [
        "https://hooks.example.com/twilio/events",
        "https://hooks.example.com:8443/twilio/events?tenant=a%27b",
        "http://127.0.0.1:8080/twilio/events?x=1&x=2",
    ]
)
BODIES = st.binary(max_size=300) | st.text(max_size=100).map(lambda t: t.encode("utf-8"))
TOKENS = st.lists(st.text(min_size=1, max_size=12), max_size=3)
# no per-example deadline: on a loaded machine it is a timed assertion, not a property
untimed = settings(deadline=None)


@untimed
@given(url=URLS, body=BODIES, others=TOKENS, token=st.text(min_size=1, max_size=20))
def test_what_the_emulator_signs_is_accepted_by_ingest_and_by_the_sdk(
    url: str, body: bytes, others: list[str], token: str
) -> None:
    full, headers = sign_json(url, body, token)
    sig = headers["X-Twilio-Signature"]
    EventsSignature([*others, token]).check(full, body, sig)  # any position in the list
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert RequestValidator(token).validate(full, text, sig)


@untimed
@given(url=URLS, body=BODIES, extra=st.binary(min_size=1, max_size=5))
def test_a_changed_body_or_url_or_token_is_refused(url: str, body: bytes, extra: bytes) -> None:
    full, headers = sign_json(url, body, AUTH_TOKEN)
    sig = headers["X-Twilio-Signature"]
    check = EventsSignature([AUTH_TOKEN]).check
    with pytest.raises(CallbackError) as e:
        check(full, body + extra, sig)
    assert (e.value.status, e.value.code) == (403, "bad-body-hash")
    with pytest.raises(CallbackError) as e:
        check(full + "&z=1", body, sig)
    assert (e.value.status, e.value.code) == (403, "bad-signature")
    with pytest.raises(CallbackError) as e:
        EventsSignature([AUTH_TOKEN + "x"]).check(full, body, sig)
    assert e.value.code == "bad-signature"


PARAMS = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=10).filter(lambda k: k not in ("CallSid", "AccountSid")),
        st.text(max_size=20),
    ),
    max_size=8,
    unique_by=lambda kv: kv[0],
)
STATUSES = st.sampled_from(["initiated", "ringing", "in-progress", "completed", "busy"])


@untimed
@given(
    calls=st.lists(st.tuples(st.integers(0, 2**128 - 1), STATUSES, PARAMS), max_size=6),
    seed=st.integers(),
)
def test_a_batch_yields_each_callback_exactly(
    calls: list[tuple[int, str, list[tuple[str, str]]]], seed: int
) -> None:
    rnd = random.Random(seed)
    events = []
    expected = []
    for n, status, params in calls:
        sid = f"CA{n:032x}"
        pairs = [("CallSid", sid), ("AccountSid", ACCOUNT_SID), ("CallStatus", status), *params]
        rnd.shuffle(pairs)
        event_id = f"EZ{rnd.getrandbits(128):032x}"
        events.append(
            cloud_event(event_id, dict(pairs), callback_url="https://h/s", method="POST", when=1.5)
        )
        expected.append((event_id, sid, [list(p) for p in pairs]))
    got = parse_batch(json.dumps(events).encode(), ACCOUNT_SID.__eq__)
    assert [(e.id, e.key, e.callback) for e in got] == expected
    assert [json.loads(e.value) for e in got] == events


@untimed
@given(attempt=st.integers(1, 200), seed=st.integers())
def test_backoff_grows_then_stays_capped(attempt: int, seed: int) -> None:
    wait = backoff(attempt, random.Random(seed))
    assert 0 < wait <= MAX_BACKOFF_S
    assert wait <= 2.0 ** (attempt - 1)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "specversion": st.sampled_from(["1.0", "0.3", 1]),
        "id": st.sampled_from(["EZ1", "", 5]),
        "source": st.sampled_from(["/s", ""]),
        "type": st.sampled_from(["com.twilio.voice.status-callback.call.ringing", "x", None]),
        "data": JSON
        | st.fixed_dictionaries(
            {"request": st.fixed_dictionaries({"parameters": JSON}, optional={"method": JSON})}
        ),
    },
)


@untimed
@given(batch=JSON | st.lists(SHAPED | JSON, max_size=4), raw=st.binary(max_size=40))
def test_any_body_is_either_read_or_refused_with_a_clear_error(batch: object, raw: bytes) -> None:
    for body in (json.dumps(batch).encode(), raw):
        try:
            events = parse_batch(body, ACCOUNT_SID.__eq__)
        except CallbackError as e:
            assert e.status in (400, 403) and e.message
        else:
            assert isinstance(events, list) and all(e.id and e.key for e in events)


def test_with_no_token_configured_every_delivery_is_refused_and_an_empty_token_is_a_bug() -> None:
    full, headers = sign_json("https://h.example/twilio/events", b"[]", AUTH_TOKEN)
    with pytest.raises(CallbackError) as e:
        EventsSignature([]).check(full, b"[]", headers["X-Twilio-Signature"])
    assert (e.value.status, e.value.code) == (403, "bad-signature")
    with pytest.raises(ValueError, match="empty"):
        EventsSignature([AUTH_TOKEN, ""])
