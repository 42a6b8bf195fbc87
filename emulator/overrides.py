"""Twilio's connection overrides: ``#ct=..&rt=..&tt=..&rc=..&rp=..`` on a webhook URL. Pure.

Values are milliseconds (``ct``, ``rt``, ``tt``), a count (``rc``) and a comma list of
retry reasons (``rp``: ``ct`` connect failure, ``rt`` read timeout, ``4xx``, ``5xx``,
``all``). Out-of-range values are clamped into Twilio's documented ranges; unknown keys
(``sni``, ``e``) are ignored. Twilio's hard 15-second cap on call-related requests always
applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urldefrag

HARD_CAP_S = 15.0
RETRY_REASONS = frozenset({"ct", "rt", "4xx", "5xx"})


@dataclass(frozen=True)
class Overrides:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 15.0
    retries: int = 1
    retry_on: frozenset[str] = frozenset({"ct"})

    def retry_for_status(self, status: int) -> bool:
        return (400 <= status < 500 and "4xx" in self.retry_on) or (
            status >= 500 and "5xx" in self.retry_on
        )


def _ms(raw: str, low: int, high: int, default: float) -> float:
    try:
        v = int(raw)
    except ValueError:
        return default
    return min(max(v, low), high) / 1000.0


def split_url(url: str) -> tuple[str, Overrides]:
    """The URL to request and sign (no fragment) and the overrides its fragment held."""
    bare, fragment = urldefrag(url)
    if not fragment:
        return bare, Overrides()
    pairs = dict(parse_qsl(fragment, keep_blank_values=True))
    d = Overrides()
    retries = d.retries
    if "rc" in pairs:
        try:
            retries = min(max(int(pairs["rc"]), 0), 5)
        except ValueError:
            retries = d.retries
    retry_on = d.retry_on
    if "rp" in pairs:
        reasons = {r.strip().lower() for r in pairs["rp"].split(",") if r.strip()}
        retry_on = frozenset(RETRY_REASONS if "all" in reasons else reasons & RETRY_REASONS)
    return bare, Overrides(
        connect_timeout=_ms(pairs.get("ct", ""), 100, 10000, d.connect_timeout),
        read_timeout=_ms(pairs.get("rt", ""), 100, 15000, d.read_timeout),
        total_timeout=_ms(pairs.get("tt", ""), 100, 15000, d.total_timeout),
        retries=retries,
        retry_on=retry_on,
    )
