"""A progress line for long CLI operations (rebuild, archive, restore): redrawn in place on a
terminal, one line every few seconds otherwise (a log or CI job)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TextIO


@dataclass
class ProgressBar:
    """``[#####.....] 12,000/40,000 records  9,800/s  ETA 0:00:03`` on stderr."""

    out: TextIO
    width: int = 30
    every_s: float = 0.2
    started: float = 0.0
    last: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        if not self.tty:
            self.every_s = 2.0

    def line(self, done: int, total: int) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        frac = done / total if total else 1.0
        filled = int(self.width * min(frac, 1.0))
        eta = "-:--:--"
        if rate > 0 and total >= done:
            s = int((total - done) / rate)
            eta = f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
        return (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{total:,} records  "
            f"{rate:,.0f}/s  ETA {eta}"
        )

    def update(self, done: int, total: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.every_s:
            return
        self.last = now
        text = self.line(done, total)
        if self.tty:
            self.out.write("\r" + text + ("\n" if final else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()
