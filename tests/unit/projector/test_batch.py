"""One poll's records, planned for the store: grouping, rejections, each partition's next
offset and the fingerprint of its last record, whatever the order of the records."""

from __future__ import annotations

import hashlib

from projector.batch import fingerprint, plan
from tests.unit.projector.callbacks import SID, callback, record

OTHER = "CA" + "9" * 32


def test_a_batch_groups_events_by_call_and_keeps_rejections() -> None:
    recs = [
        (1, 7, callback(2, "ringing")),
        (0, 3, b"not json"),
        (1, 5, callback(1, "initiated", sid=OTHER)),
        (0, 4, callback(3, "completed")),
    ]
    b = plan(recs)
    assert b.records == 4
    assert {sid: [e.position for e in evs] for sid, evs in b.events.items()} == {
        SID: [(1, 7), (0, 4)],
        OTHER: [(1, 5)],
    }
    assert [(r.partition, r.offset, r.reason.split(":")[0]) for r in b.rejected] == [
        (0, 3, "malformed-envelope")
    ]


def test_each_partition_ends_after_its_highest_offset_in_any_order() -> None:
    recs = [(0, 9, b"a"), (2, 1, b"b"), (0, 4, b"c"), (2, 0, b"d"), (0, 8, None)]
    b = plan(recs)
    assert b.next_offsets == {0: 10, 2: 2}
    assert b.positions() == [(0, 10, fingerprint(b"a")), (2, 2, fingerprint(b"b"))]
    assert plan(list(reversed(recs))).positions() == b.positions()
    # a partition's first record: its next offset is 1
    assert plan([(3, 0, b"x")]).positions() == [(3, 1, fingerprint(b"x"))]


def test_the_newest_received_at_of_the_events() -> None:
    recs = [
        (0, 0, record([("CallSid", SID), ("SequenceNumber", "1"), ("CallStatus", "ringing")], "b")),
        (0, 1, record([("CallSid", SID), ("SequenceNumber", "2"), ("CallStatus", "ringing")], "c")),
        (0, 2, record([("CallSid", SID), ("SequenceNumber", "3"), ("CallStatus", "busy")], "a")),
        (0, 3, record([("SequenceNumber", "4")], "z")),  # rejected: does not count
    ]
    assert plan(recs).newest_received_at == "c"
    assert plan([]).newest_received_at is None
    assert plan([]).records == 0


def test_a_fingerprint_is_of_the_bytes() -> None:
    assert fingerprint(None) == "null"
    assert (
        fingerprint("é")
        == fingerprint("é".encode())
        == hashlib.blake2b("é".encode(), digest_size=16).hexdigest()
    )
    assert len(fingerprint(b"")) == 32 and fingerprint(b"a") != fingerprint(b"b")
