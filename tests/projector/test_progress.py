"""The consumer's progress crosses a process boundary as JSON lines: nothing may be lost."""

from __future__ import annotations

import json
import time

from hypothesis import given
from hypothesis import strategies as st

from projector.progress import STALLED_AFTER_S, Progress

offsets = st.dictionaries(st.integers(0, 63), st.integers(0, 2**53), max_size=8)


@st.composite
def progresses(draw: st.DrawFn) -> Progress:
    return Progress(
        partitions=draw(st.lists(st.integers(0, 63), unique=True, max_size=8)),
        stored=draw(offsets),
        high=draw(offsets),
        records=draw(st.integers(0, 2**53)),
        events=draw(st.integers(0, 2**53)),
        rejected=draw(st.integers(0, 2**31)),
        batches=draw(st.integers(0, 2**31)),
        newest_received_at=draw(st.none() | st.text(max_size=40)),
        polled_at=draw(st.none() | st.floats(0, 4e9, allow_nan=False)),
        fatal=draw(st.none() | st.text(max_size=200)),
    )


@given(progresses(), progresses())
def test_a_snapshot_through_json_restores_every_field(p: Progress, before: Progress) -> None:
    line = json.dumps(p.snapshot())
    before.update(json.loads(line))
    assert before == p
    assert before.lag() == p.lag() and before.caught_up() == p.caught_up()


def test_a_consumer_that_stopped_polling_is_stalled() -> None:
    now = time.time()
    p = Progress(partitions=[0], stored={0: 5}, high={0: 5})
    assert not p.stalled(now) and p.poll_age_s(now) is None  # no poll yet: no verdict
    p.polled_at = now - 1
    assert not p.stalled(now) and p.caught_up()
    p.polled_at = now - STALLED_AFTER_S - 1
    assert p.stalled(now)
