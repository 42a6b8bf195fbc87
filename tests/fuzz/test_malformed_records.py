"""Malformed records (written by anyone with access to the topics, not only by callstream):
on ``twilio.call-status`` the projector keeps each in ``rejected_events`` and goes on
applying the good records after it, in the same run, without stopping; on
``dialer.requests`` the dialer dead-letters each once (a dead letter that always fits the
producer) and goes on placing the good requests."""

from __future__ import annotations

import json
import sqlite3

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from callstream import kafka_clients, topics
from callstream.settings import Settings
from dialer.deadletter import MAX_VALUE, dead_letter_value
from projector.consumer import Projector
from projector.store import Store
from tests.projector.support import callback, sid

GOOD = json.loads(callback(sid(1), 0, "initiated", 1))


def _env(**changes: object) -> bytes:
    env = dict(GOOD)
    for k, v in changes.items():
        if v is _DROP:
            env.pop(k, None)
        else:
            env[k] = v
    return json.dumps(env).encode()


_DROP = object()
PARAMS_NO = {
    name: [p for p in GOOD["params"] if p[0] != name]
    for name in ("CallSid", "SequenceNumber", "CallStatus")
}

# (label, value) in the order produced; each is followed by a good record of its own call
BAD: list[tuple[str, bytes | None]] = [
    ("not-json", b"{not json"),
    ("not-utf8", b"\xff\xfe\x00garbage"),
    ("empty", b""),
    ("null-value", None),
    ("json-array", b"[1, 2, 3]"),
    ("json-string", b'"hello"'),
    ("wrong-v", _env(v=2)),
    ("v-as-string", _env(v="1")),
    ("no-v", _env(v=_DROP)),
    ("no-params", _env(params=_DROP)),
    ("params-not-list", _env(params={"CallSid": sid(9)})),
    ("param-not-pair", _env(params=[["CallSid"]])),
    ("param-value-number", _env(params=[["CallSid", 5]])),
    ("no-received-at", _env(received_at=_DROP)),
    ("no-url", _env(url=_DROP)),
    ("no-call-sid", _env(params=PARAMS_NO["CallSid"])),
    ("no-sequence-number", _env(params=PARAMS_NO["SequenceNumber"])),
    ("no-call-status", _env(params=PARAMS_NO["CallStatus"])),
    ("bad-sequence-number", _env(params=[*PARAMS_NO["SequenceNumber"], ["SequenceNumber", "x"]])),
    (
        "huge-sequence-number",
        _env(params=[*PARAMS_NO["SequenceNumber"], ["SequenceNumber", "9" * 400]]),
    ),
    ("nested-list", b"[" * 5000 + b"]" * 5000),
    ("nested-object", b'{"a":' * 3000 + b"1" + b"}" * 3000),
    ("nul-bytes", b"\x00" * 64),
    ("one-megabyte", b'{"v": 1, "pad": "' + b"x" * (1000 * 1000) + b'"}'),
    # issue 17: poison records as anyone with access to the topic could write them
    ("oversized", b'{"v": 1, "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'),
    ("truncated", callback(sid(7), 0, "ringing", 1)[:40]),
    ("truncated-mid-escape", b'{"v":1,"received_at":"2026-11-25T12:00:00Z","url":"\\u00'),
    ("not-utf8-inside-json", _env(url=_DROP)[:-1] + b',"url":"\xff\xfe"}'),
    ("latin1-envelope", callback(sid(8), 0, "ringing", 1).replace(b"ringing", b"r\xe9ing")),
]


def test_malformed_records_are_quarantined_and_good_ones_still_applied(
    settings: Settings,
) -> None:
    topic = settings.topic(topics.CALL_STATUS)
    producer = kafka_clients.make_producer(
        settings, "fuzz-records", max_request_size=8 * 1024 * 1024
    )
    try:
        producer.send(topic, key=b"first", value=callback(sid(1), 0, "initiated", 1)).get(30)
        for i, (_label, value) in enumerate(BAD):
            producer.send(topic, key=f"bad{i}".encode(), value=value).get(30)
            good = callback(sid(1000 + i), 0, "ringing", i)
            producer.send(topic, key=f"good{i}".encode(), value=good).get(30)
        producer.send(topic, key=b"last", value=callback(sid(1), 1, "completed", 9)).get(30)
        producer.flush(30)
    finally:
        producer.close(timeout=5)

    store = Store(settings.db, topic)
    try:
        profile = kafka_clients.TANSU if settings.kafka_profile == "tansu" else kafka_clients.KAFKA
        projector = Projector(settings, store, profile, group_id=None)
        prog = projector.run(until_caught_up=True)
    finally:
        store.close()

    assert prog.fatal is None
    assert prog.rejected == len(BAD)
    with sqlite3.connect(settings.db) as conn:
        rejected = conn.execute(
            'SELECT "offset", reason, value FROM rejected_events ORDER BY "offset"'
        ).fetchall()
        calls = dict(conn.execute("SELECT call_sid, status FROM calls").fetchall())
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert len(rejected) == len(BAD), [r[:2] for r in rejected]
    assert all(reason for _o, reason, _v in rejected)
    # every good record, including those right after a bad one, was applied
    for i in range(len(BAD)):
        assert calls[sid(1000 + i)] == "ringing", i
    assert calls[sid(1)] == "completed"
    assert len(calls) == len(BAD) + 1
    assert tables >= {"calls", "call_events", "rejected_events", "projector_offsets"}
    # each bad record is kept as it was, with a reason
    kept = [v for _o, _r, v in rejected]
    for label, value in BAD:
        text = None if value is None else value.decode("utf-8", "replace")
        assert text in kept, label


def test_dialer_record_readers_refuse_nested_json() -> None:
    """The dialer's readers of ``dialer.requests`` and its ledger treat a record nested too
    deep for json like any other non-JSON record instead of raising RecursionError."""
    import pytest

    from callstream.dialrequest import DialRequestError, from_record
    from dialer.ledger import decode

    for raw in (b"[" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000):
        with pytest.raises(DialRequestError):
            from_record(raw)
        assert decode(raw) is None


def test_dialer_sets_poison_requests_aside_and_goes_on(settings: Settings) -> None:
    """Poison records on ``dialer.requests`` (oversized, truncated, not UTF-8): each goes to
    ``dialer.dead-letter`` once, and the good requests behind them are placed."""
    from dataclasses import replace

    from tests.dialer.harness import ThreadDialer, dead_letters, make_requests, outcomes
    from tests.dialer.planned_twilio import PlannedEmulator
    from tests.helpers import ACCOUNT_SID, AUTH_TOKEN

    good = make_requests(3)
    valid = good[0].to_json()
    poison = [
        b"x" * (3 * 1024 * 1024),  # oversized, not JSON
        json.dumps({**good[0].to_dict(), "id": "big", "twiml": "y" * (3 * 1024 * 1024)}).encode(),
        valid[: len(valid) // 2],  # truncated
        b"\xff\xfe" + valid,  # not UTF-8
    ]
    fake = PlannedEmulator(ACCOUNT_SID, AUTH_TOKEN)
    with fake.serve() as url:
        s = replace(settings, twilio_api_url=url, cps=10)
        producer = kafka_clients.make_producer(s, "fuzz-dialer", max_request_size=8 * 1024 * 1024)
        try:
            topic = s.topic(topics.DIALER_REQUESTS)
            for p, g in zip(poison, [*good, good[-1]], strict=True):
                producer.send(topic, p, key=ACCOUNT_SID.encode()).get(30)
                producer.send(topic, g.to_json(), key=ACCOUNT_SID.encode()).get(30)
            producer.flush(30)
        finally:
            producer.close(timeout=5)
        with ThreadDialer(s, url):
            outs = outcomes(s, expect=4, timeout=60)
            dls = dead_letters(s, expect=len(poison))
    placed = {o["id"] for o in outs if o["result"] == "created"}
    assert placed == {r.id for r in good}
    assert len(dls) == len(poison)
    assert {d["reason"]["kind"] for d in dls} == {"malformed"}
    # a dead letter stays producible: the oversized raw value is cut, and says so
    assert all(len(json.dumps(d)) < 1024 * 1024 for d in dls)
    cut = [d for d in dls if "raw_truncated" in d]
    assert len(cut) == 2 and {d["raw_truncated"]["bytes"] >= 3 * 1024 * 1024 for d in cut} == {True}
    assert [d["id"] for d in cut if "id" in d] == ["big"]


PRODUCER_LIMIT = 1024 * 1024
big_text = st.one_of(
    st.text(max_size=50),
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["x", "\x01", "☎", "\U0001f600", '"']),
        st.sampled_from([10, 70_000, 600_000]),
    ),
)


@hsettings(max_examples=60, deadline=None)
@given(
    raw=st.one_of(
        st.none(),
        st.binary(max_size=64),
        st.builds(
            lambda b, n: b * n,
            st.sampled_from([b"x", b"\xff", b"\x00", b"\xe2\x98\x8e"]),
            st.sampled_from([100, 300_000, 3_000_000]),
        ),
    ),
    fields=st.dictionaries(st.sampled_from(["id", "account_sid", "to", "twiml", "x"]), big_text),
    message=big_text,
)
def test_a_dead_letter_always_fits_the_producer(
    raw: bytes | None, fields: dict[str, str], message: str
) -> None:
    rec = {
        **fields,
        "reason": {"kind": "malformed", "code": "invalid-request", "message": message},
        "dead_lettered_at": "2026-11-29T00:00:00.000000Z",
        "source": {"topic": "dialer.requests", "partition": 0, "offset": 7},
    }
    value = dead_letter_value(rec, raw)
    assert len(value) < PRODUCER_LIMIT - 64 * 1024
    out = json.loads(value)
    assert out["source"] == rec["source"] and out["reason"]["kind"] == "malformed"
    if len(json.dumps(rec, ensure_ascii=False).encode()) <= MAX_VALUE:
        assert out == rec  # small enough: kept whole
