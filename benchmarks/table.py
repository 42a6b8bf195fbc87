"""Pure helpers for the benchmarks' reports: percentiles and a pasteable Markdown table."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pct(xs: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank: the smallest value with at least ``q`` % of
    the values at or below it); NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def ms(xs: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of durations in seconds, in milliseconds to 0.1."""
    return round(pct(xs, q) * 1000, 1)


def markdown(rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table: the first row is the header."""
    if not rows:
        return ""
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError("every row needs as many cells as the header")
    lines = ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    lines.insert(1, "|" + "---|" * width)
    return "\n".join(lines)
