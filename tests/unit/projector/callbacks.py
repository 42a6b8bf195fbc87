"""Callback records as ingest writes them, and their events, for the projector's unit tests."""

from __future__ import annotations

from callstream.envelope import encode
from projector.events import Event
from projector.interpret import interpret

SID = "CA" + "1" * 32
ACC = "AC" + "0123456789abcdef" * 2


def record(
    params: list[tuple[str, str]], received_at: str = "2026-11-25T12:00:00.000000Z"
) -> bytes:
    return encode(
        received_at,
        "POST",
        "https://hooks.example.com/twilio/status",
        [list(p) for p in params],
        None,
    )


def callback(
    seq: int | str,
    status: str,
    ts: str = "Tue, 01 Nov 2016 01:59:13 +0000",
    sid: str = SID,
    **extra: str,
) -> bytes:
    params = [
        ("AccountSid", ACC),
        ("CallSid", sid),
        ("CallStatus", status),
        ("SequenceNumber", str(seq)),
        ("Timestamp", ts),
        ("CallbackSource", "call-progress-events"),
    ]
    params += list(extra.items())
    return record(params)


def ev(value: bytes, partition: int = 0, offset: int = 0) -> Event:
    e = interpret(value, partition, offset)
    assert isinstance(e, Event), e
    return e
