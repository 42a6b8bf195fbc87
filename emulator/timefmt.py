"""Dates as Twilio writes them: RFC 2822 in UTC, ``Tue, 31 Aug 2010 20:36:28 +0000``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import format_datetime


def rfc2822(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(int(ts), UTC))


def parse_list_date(value: str) -> datetime | date:
    """A list filter date: ``YYYY-MM-DD`` (Twilio's form) or ``YYYY-MM-DDTHH:MM:SSZ``
    (what twilio-python sends for a ``datetime``). Raises ValueError."""
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
