"""The mapping of a REST Call resource to a snapshot's callback parameters."""

from __future__ import annotations

import pytest

from projector.events import Event
from projector.interpret import interpret
from reconciler.snapshot import RestCall, snapshot_params
from tests.unit.reconciler.test_fold_snapshots import ACC, SID, record

END = "Wed, 25 Nov 2026 12:03:00 +0000"
UPDATED = "Wed, 25 Nov 2026 12:03:01 +0000"
START = "Wed, 25 Nov 2026 12:01:00 +0000"


def call(status: str, **kw: str | None) -> RestCall:
    base: dict[str, str | None] = {
        "direction": "outbound-api",
        "from_": "+15005550001",
        "to": "+15005550006",
        "start_time": START,
        "date_updated": UPDATED,
    }
    base.update(kw)
    return RestCall(SID, ACC, status, **base)  # type: ignore[arg-type]


def test_a_completed_call_maps_to_a_terminal_callback() -> None:
    p = dict(snapshot_params(call("completed", end_time=END, duration="61", answered_by="human")))
    assert p["CallStatus"] == "completed"
    assert p["SequenceNumber"] == "-1"
    assert p["CallbackSource"] == "callstream-reconciler"
    assert p["Timestamp"] == END  # when it ended, not when the resource changed
    assert (p["CallDuration"], p["Duration"]) == ("61", "2")  # minutes rounded up
    assert p["AnsweredBy"] == "human"
    assert (p["From"], p["Caller"], p["To"], p["Called"]) == (
        "+15005550001",
        "+15005550001",
        "+15005550006",
        "+15005550006",
    )
    assert (p["StartTime"], p["EndTime"], p["Direction"]) == (START, END, "outbound-api")
    assert "ParentCallSid" not in p


@pytest.mark.parametrize("status", ["busy", "failed", "no-answer", "canceled"])
def test_unanswered_outcomes_bill_nothing(status: str) -> None:
    p = dict(snapshot_params(call(status, end_time=END, duration="0")))
    assert (p["CallDuration"], p["Duration"], p["SequenceNumber"]) == ("0", "0", "-1")


@pytest.mark.parametrize(
    ("status", "seq"), [("queued", "-5"), ("ringing", "-3"), ("in-progress", "-2")]
)
def test_a_live_call_maps_to_a_snapshot_ranked_by_its_stage(status: str, seq: str) -> None:
    p = dict(snapshot_params(call(status, parent_call_sid="CA" + "9" * 32)))
    assert p["SequenceNumber"] == seq
    assert p["Timestamp"] == UPDATED
    assert p["ParentCallSid"] == "CA" + "9" * 32
    assert "CallDuration" not in p and "Duration" not in p


def test_the_projector_reads_a_snapshot_like_a_callback() -> None:
    e = interpret(record(snapshot_params(call("no-answer", end_time=END, duration="0"))), 2, 7)
    assert isinstance(e, Event)
    assert (e.status, e.sequence_number, e.timestamp) == ("no-answer", -1, "2026-11-25T12:03:00Z")
    assert (e.call_duration_s, e.billed_minutes, e.direction) == (0, 0, "outbound-api")


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="not a call status"):
        snapshot_params(call("exploded"))


def test_a_bad_duration_reads_as_zero() -> None:
    p = dict(snapshot_params(call("completed", end_time=END, duration="n/a")))
    assert (p["CallDuration"], p["Duration"]) == ("0", "1")
