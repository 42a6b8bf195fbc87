"""One poll's records, sorted for the store: what each means and where each partition now
stands.

Pure: no Kafka, no SQLite. :func:`plan` interprets every record (:mod:`projector.interpret`),
groups the events by call, keeps the rejections, and works out each partition's next offset
and last record (whose fingerprint the store keeps, see :mod:`projector.samelog`);
:class:`projector.store.Store` records the result in one transaction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from projector.events import Event, Rejected
from projector.interpret import interpret

Record = tuple[int, int, bytes | str | None]  # (partition, offset, value)


def fingerprint(value: bytes | str | None) -> str:
    """What identifies a record's value: equal values, equal fingerprints."""
    if value is None:
        return "null"
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


@dataclass(slots=True)
class Batch:
    records: int = 0
    events: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    rejected: list[Rejected] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)  # per partition
    last: dict[int, bytes | str | None] = field(default_factory=dict)  # value at next - 1
    newest_received_at: str | None = None

    def positions(self) -> list[tuple[int, int, str]]:
        """(partition, next offset, fingerprint of the last record) per partition."""
        return [(p, o, fingerprint(self.last[p])) for p, o in sorted(self.next_offsets.items())]


def plan(records: Iterable[Record]) -> Batch:
    """Interpret one batch of records."""
    b = Batch()
    events, next_offsets, last = b.events, b.next_offsets, b.last
    for partition, offset, value in records:
        b.records += 1
        nxt = offset + 1
        if next_offsets.get(partition, -1) < nxt:
            next_offsets[partition] = nxt
            last[partition] = value
        item = interpret(value, partition, offset)
        if isinstance(item, Rejected):
            b.rejected.append(item)
        else:
            events[item.call_sid].append(item)
            if b.newest_received_at is None or item.received_at > b.newest_received_at:
                b.newest_received_at = item.received_at
    return b
