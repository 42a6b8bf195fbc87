"""The archive's pure core: one archived record, its headers' byte encoding, and the checks
that decide whether a partition's records can be placed back at their offsets.

No Kafka and no SQLite here: plain data in, plain data out (property-tested).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Header = tuple[str, bytes | None]

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")


@dataclass(frozen=True)
class ArchivedRecord:
    """A log record exactly as the broker holds it."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # milliseconds since the epoch
    timestamp_type: int  # 0: CreateTime (the producer's), 1: LogAppendTime (the broker's)
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()


def encode_headers(headers: Sequence[Header]) -> bytes | None:
    """Headers as bytes (``None`` for none): per header, a 4-byte name length, the UTF-8
    name, a 4-byte signed value length (-1 for a null value) and the value. Order and
    repeated names are kept, as Kafka keeps them."""
    if not headers:
        return None
    out = bytearray()
    for name, value in headers:
        raw = name.encode("utf-8")
        out += _U32.pack(len(raw)) + raw
        if value is None:
            out += _I32.pack(-1)
        else:
            out += _I32.pack(len(value)) + value
    return bytes(out)


def decode_headers(blob: bytes | None) -> tuple[Header, ...]:
    if not blob:
        return ()
    out: list[Header] = []
    i = 0
    while i < len(blob):
        (n,) = _U32.unpack_from(blob, i)
        i += 4
        name = blob[i : i + n].decode("utf-8")
        i += n
        (m,) = _I32.unpack_from(blob, i)
        i += 4
        if m < 0:
            out.append((name, None))
        else:
            out.append((name, blob[i : i + m]))
            i += m
    return tuple(out)


class NotRestorable(ValueError):
    """The archive cannot be placed back at the same offsets; the message says why."""


def check_contiguous(topic: str, partition: int, offsets: Iterable[int]) -> int:
    """The number of records when ``offsets`` are exactly 0, 1, ..., n-1 in order; else raise.

    Producing into an empty partition assigns 0, 1, 2, ...: only a log without gaps can be
    placed back at the same offsets. Real Kafka leaves gaps (transaction markers,
    compaction, records deleted by retention before they were archived); callstream never
    fills them with stand-in records, which would be new data in the log.
    """
    expected = 0
    for off in offsets:
        if off != expected:
            what = "starts at" if expected == 0 else "has a gap at"
            where = off if expected == 0 else expected
            raise NotRestorable(
                f"{topic} partition {partition} {what} offset {where} in the archive "
                "(transaction markers, compaction or retention left a gap): producing it "
                "again cannot put every record back at its offset; nothing was written"
            )
        expected += 1
    return expected


def check_target(
    topic: str, archived_partitions: int, target_partitions: int | None, target_end: dict[int, int]
) -> None:
    """Refuse a target topic with a different partition count or any record in it."""
    if target_partitions is not None and target_partitions != archived_partitions:
        raise NotRestorable(
            f"{topic} has {target_partitions} partitions but the archive has "
            f"{archived_partitions}: records would land in other partitions; recreate the "
            f"topic with {archived_partitions} partitions (or delete it and let restore create "
            "it); nothing was written"
        )
    full = {p: n for p, n in sorted(target_end.items()) if n > 0}
    if full:
        p, n = next(iter(full.items()))
        raise NotRestorable(
            f"{topic} is not empty (partition {p} ends at offset {n}): restore only writes "
            "into empty topics, so that every record keeps its offset; nothing was written"
        )
