"""``callstream up`` on the embedded broker: say when the log has grown to where reads slow.

The embedded broker's cost per read grows with the number of record batches it holds, and
ingest writes about one batch per callback at modest rates: measured, a consumer at the tail
waited about 80 ms with 34,000 records in the log, over a second with 124,000, and read
nothing within 30 s at 380,000 (docs/benchmarks.md, *Embedded broker*). A restart of
``callstream up`` restores the archive in large batches, which brings the cost back down.
So ``up`` counts the records written since it started (from the archive's positions, which
the archiver commits with the records) and says so, once per threshold, in one line.

:func:`crossed` is the pure rule; :class:`LogGrowth` reads the archive (no Kafka client).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# records written since start at which up speaks (then every STEP more)
FIRST = 50_000
STEP = 100_000
CHECK_EVERY_S = 30.0


def crossed(before: int, now: int, first: int = FIRST, step: int = STEP) -> int | None:
    """The highest threshold (``first``, ``first + step``, ...) that the count passed
    going from ``before`` to ``now``; None when it passed none."""
    if now < first or now <= before:
        return None
    highest = first + (now - first) // step * step
    return highest if highest > before else None


def message(threshold: int) -> str:
    return (
        f"log        {threshold:,} records written since start: the embedded broker's reads "
        "slow down as its log grows (docs/benchmarks.md, Embedded broker); restart "
        "'callstream up' to re-batch it from the archive, or use Kafka for sustained traffic"
    )


def archived_total(path: Path) -> int | None:
    """The records the archive holds (the sum of its committed positions), or None when it
    cannot be read now (not there yet, locked, not an archive)."""
    from callstream.archive_store import ArchiveError, ArchiveStore

    if not path.exists():
        return None
    try:
        store = ArchiveStore(path, readonly=True)
    except ArchiveError:
        return None
    try:
        return sum(store.positions().values())
    except Exception:  # a busy or half-written file: try again at the next check
        return None
    finally:
        store.close()


class LogGrowth:
    """Checked from up's supervision loop; says a line when a threshold is crossed."""

    def __init__(
        self,
        archive: Path,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        read: Callable[[Path], int | None] = archived_total,
    ) -> None:
        self.archive, self.say, self.clock, self.read = archive, say, clock, read
        self.start = read(archive) or 0  # what the restore put back: large batches
        self.said = 0
        self.next_check = clock() + CHECK_EVERY_S

    def check(self) -> None:
        if self.clock() < self.next_check:
            return
        self.next_check = self.clock() + CHECK_EVERY_S
        total = self.read(self.archive)
        if total is None:
            return
        passed = crossed(self.said, total - self.start)
        if passed is not None:
            self.said = passed
            self.say(message(passed))
