"""Is the topic, under its new id, the log the database was built from?

A topic's id (KIP-516) changes when the topic is deleted and created again, or when a
broker that lost its data creates it anew. That new log may be the old one put back by
``callstream restore`` (every record at its old offset: keep going), or another log
(refuse). The store keeps, per partition, the offset and a fingerprint of the last record
it applied; the new log is the same one when the record at each of those offsets has the
same fingerprint.
"""

from __future__ import annotations

import time
from typing import Any

from projector.batch import fingerprint


def differs(
    consumer: Any,
    tps: dict[int, Any],
    applied: dict[int, tuple[int, str]],
    stored: dict[int, int],
    timeout_s: float = 10.0,
) -> str | None:
    """None when every fingerprinted record is in the log unchanged, else why not.

    Reads one record per partition from the assigned ``consumer`` (the other partitions are
    paused meanwhile); the caller seeks every partition afterwards.
    """
    for p, nxt in sorted(stored.items()):
        if nxt > 0 and p not in applied:
            return (
                f"no fingerprint is stored for partition {p} (the database was written by an "
                "older projector), so the new log cannot be compared with it"
            )
    todo = {p: off for p, (off, _) in applied.items() if p in tps}
    others = [tp for p, tp in tps.items() if p not in todo]
    if others:
        consumer.seek_to_beginning(*others)  # a position of some kind, or poll() refuses
        consumer.pause(*others)
    for p, off in todo.items():
        consumer.seek(tps[p], off)
    try:
        deadline = time.monotonic() + timeout_s
        while todo:
            if time.monotonic() > deadline:
                return f"partition(s) {sorted(todo)} could not be read within {timeout_s:.0f} s"
            batch = consumer.poll(timeout_ms=200)
            for tp, recs in batch.items():
                p = tp.partition
                if p not in todo or not recs:
                    continue
                off = todo.pop(p)
                consumer.pause(tp)
                if recs[0].offset != off:
                    return f"partition {p} has no record at offset {off}"
                if fingerprint(recs[0].value) != applied[p][1]:
                    return f"partition {p} holds a different record at offset {off}"
            for p, off in list(todo.items()):
                hw = consumer.highwater(tps[p])
                if hw is not None and hw <= off:
                    return (
                        f"partition {p} ends at offset {hw}, before the last applied record "
                        f"(offset {off})"
                    )
        return None
    finally:
        consumer.resume(*tps.values())
