"""What the reconciler reads in a record agrees with what the projector makes of it."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from callstream.envelope import encode
from projector.events import Event
from projector.interpret import interpret
from reconciler.records import created_of, seen_of

SID = "CA" + "6" * 32

seqs = st.one_of(
    st.integers(-8, 8).map(str),
    st.sampled_from(["", " 3 ", "+2", "x", "1" * 19, "-1 ", "٣", "1_0"]),
)
statuses = st.sampled_from(["ringing", "COMPLETED", "answered", "", " busy ", "in-progress"])
sources = st.sampled_from(["call-progress-events", "callstream-reconciler", None])


@given(st.sampled_from([SID, "", "  "]), statuses, seqs, sources)
def test_the_reconciler_counts_exactly_the_events_the_projector_counts(
    sid: str, status: str, seq: str, source: str | None
) -> None:
    params = [["CallSid", sid], ["CallStatus", status], ["SequenceNumber", seq]]
    if source is not None:
        params.append(["CallbackSource", source])
    value = encode("2026-11-25T12:00:00Z", "POST", "https://x", params, None)
    seen, event = seen_of(value, 5.0), interpret(value, 0, 0)
    assert (seen is not None) == isinstance(event, Event)
    if seen is not None and isinstance(event, Event):
        assert (seen.call_sid, seen.status, seen.sequence) == (
            event.call_sid,
            event.status,
            event.sequence_number,
        )
        assert seen.snapshot == (source == "callstream-reconciler")


def test_only_created_outcomes_are_calls() -> None:
    acc = "AC" + "1" * 32
    made = created_of(
        json.dumps({"result": "created", "call_sid": SID, "account_sid": acc}).encode(), 3.0
    )
    assert made is not None and (made.call_sid, made.account_sid, made.at) == (SID, acc, 3.0)
    for value in (
        b'{"result": "in-doubt", "call_sid": "CA1"}',
        b'{"result": "created", "call_sid": null}',
        b"[1, 2]",
        b"\xff",
        None,
    ):
        assert created_of(value, 0.0) is None
    odd = created_of(b'{"result": "created", "call_sid": "CAx", "account_sid": 5}', 0.0)
    assert odd is not None and odd.account_sid is None
