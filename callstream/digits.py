"""Whole numbers from text a client sent (query parameters, form fields, flags). Pure.

``str.isdigit`` alone is not enough: it accepts superscripts (``²``) and other Unicode
digits that ``int`` then refuses, and ``int`` of thousands of digits is slow and, past
Python's limit, an error. So a count is 1 to ``max_digits`` ASCII digits, nothing else.
"""

from __future__ import annotations


def ascii_count(raw: str, max_digits: int = 9) -> int | None:
    """``raw`` as a non-negative int when it is 1 to ``max_digits`` ASCII digits, else None."""
    if not raw or len(raw) > max_digits or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)
