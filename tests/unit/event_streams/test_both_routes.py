"""A callback and its Event Streams copy are one event to the projector: whatever reaches
the log (callbacks lost, copies repeated, any order), the fold gives the row of the four
callbacks alone. The copies are made by the route's own reading of a delivery."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from callstream.envelope import encode
from emulator.event_sink import cloud_event
from ingest.event_streams import parse_batch
from projector import fold
from tests.unit.projector.callbacks import ACC, SID, ev

LIFE = [
    ("initiated", {}),
    ("ringing", {}),
    ("in-progress", {}),
    ("completed", {"CallDuration": "49", "Duration": "1", "SipResponseCode": "200"}),
]


def _params(seq: int) -> list[tuple[str, str]]:
    status, extra = LIFE[seq]
    return [
        ("AccountSid", ACC),
        ("CallSid", SID),
        ("CallStatus", status),
        ("SequenceNumber", str(seq)),
        ("Timestamp", f"Tue, 01 Nov 2016 01:59:1{seq} +0000"),
        ("CallbackSource", "call-progress-events"),
        *extra.items(),
    ]


def _callback(seq: int) -> bytes:
    return encode("2026-11-25T12:00:00Z", "POST", "https://h/twilio/status", _params(seq), None)


def _copies(seqs: list[int]) -> list[bytes]:
    """The twilio.call-status records the route writes for one delivery of these events."""
    batch = [
        cloud_event(f"EZ{s}", dict(_params(s)), callback_url="https://h/s", method="POST", when=0)
        for s in seqs
    ]
    events = parse_batch(json.dumps(batch).encode(), ACC.__eq__)
    url = "https://h/twilio/events?bodySHA256=x"
    return [encode("2026-11-25T12:00:01Z", e.method, url, e.callback, e.id) for e in events]


@settings(deadline=None)
@given(
    delivered=st.lists(st.sampled_from(range(4)), unique=True),
    deliveries=st.lists(st.lists(st.sampled_from(range(4)), min_size=1), min_size=1),
    order=st.randoms(use_true_random=False),
)
def test_any_mix_of_callbacks_and_copies_folds_to_the_same_row(
    delivered: list[int], deliveries: list[list[int]], order: random.Random
) -> None:
    seen = {s for d in deliveries for s in d} | set(delivered)
    records = [_callback(s) for s in delivered] + [r for d in deliveries for r in _copies(d)]
    order.shuffle(records)
    row = fold.fold(ev(r, offset=i) for i, r in enumerate(records))
    alone = fold.fold(ev(_callback(s), offset=i) for i, s in enumerate(sorted(seen)))
    assert row == alone
    assert row["events_count"] == len(seen)
