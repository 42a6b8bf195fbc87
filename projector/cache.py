"""The writer's memory of calls it has recently written: their ``calls`` row and their
stored events' (status, position) by SequenceNumber, exactly what
:func:`projector.fold.update` needs, so that a record of a call still in flight needs no
read of SQLite.

Pure: no SQLite, no clock. The cache is a copy of what the database holds, never a source
of truth: :class:`projector.store.Store` fills it only with states it has just read inside
the batch's transaction, or just written in it, and hands them over only once that
transaction has committed (:meth:`CallCache.commit`). A batch that fails or rolls back
leaves the cache as it was before the batch, and the store clears it whenever another
connection may have written to the file in between.

Eviction keeps it bounded, cheapest first:

* a **settled** call (terminal status) that no record has touched for ``settle_after``
  records goes at once: late copies of its callbacks are rare, and one costs a read;
* over ``max_calls``, settled calls go first (least recently touched first), then calls in
  flight (least recently touched first), so the size never exceeds ``max_calls``.

Age is counted in records applied, not in seconds, so the same log evicts the same calls
however fast it is read.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from callstream.callstatus import TERMINAL
from projector.events import Position
from projector.fold import Row

DEFAULT_MAX_CALLS = 50_000
# A settled call is kept this many records more, for late copies of its callbacks (a copy
# past it costs one read). Kept short on purpose: measured on the workload model's
# interleaved log, a 20,000-record window made the writer slower, not faster (a larger heap
# for Python's garbage collector to walk), while calls in flight never age out.
DEFAULT_SETTLE_AFTER = 1_000

Stored = dict[int, tuple[str, Position]]


@dataclass(slots=True)
class CallState:
    """A call as the database holds it: its row (None: no row yet) and its events' keys."""

    row: Row | None
    stored: Stored
    touched: int = 0  # the record counter when last written


class CallCache:
    """A bounded map CallSid -> :class:`CallState` of calls as committed."""

    def __init__(
        self, max_calls: int = DEFAULT_MAX_CALLS, settle_after: int = DEFAULT_SETTLE_AFTER
    ) -> None:
        if max_calls < 0 or settle_after < 0:
            raise ValueError("max_calls and settle_after must be >= 0")
        self.max_calls = max_calls
        self.settle_after = settle_after
        self.clock = 0  # records applied so far
        # insertion order is last-touch order: the front is the least recently touched
        self._live: OrderedDict[str, CallState] = OrderedDict()
        self._settled: OrderedDict[str, CallState] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._live) + len(self._settled)

    def __contains__(self, sid: str) -> bool:
        return sid in self._live or sid in self._settled

    def get(self, sid: str) -> CallState | None:
        st = self._live.get(sid) or self._settled.get(sid)
        if st is None:
            self.misses += 1
        else:
            self.hits += 1
        return st

    def clear(self) -> None:
        """Forget everything (the file may have changed behind the writer's back)."""
        self._live.clear()
        self._settled.clear()

    def commit(self, states: dict[str, CallState], records: int) -> None:
        """Take the states of one committed batch of ``records`` records, then evict."""
        self.clock += records
        live, settled, now = self._live, self._settled, self.clock
        for sid, st in states.items():
            st.touched = now
            live.pop(sid, None)
            settled.pop(sid, None)
            if self.max_calls == 0:
                continue
            if st.row is not None and st.row["status"] in TERMINAL:
                settled[sid] = st
            else:
                live[sid] = st
        self._evict()

    def _evict(self) -> None:
        settled, live = self._settled, self._live
        old = self.clock - self.settle_after
        while settled:
            sid, st = next(iter(settled.items()))
            if st.touched > old:
                break
            del settled[sid]
            self.evicted += 1
        excess = len(settled) + len(live) - self.max_calls
        while excess > 0:
            settled.popitem(last=False) if settled else live.popitem(last=False)
            self.evicted += 1
            excess -= 1
