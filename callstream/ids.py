"""Shapes of Twilio identifiers and phone numbers, checked the same way everywhere."""

from __future__ import annotations

import re

CALL_SID = re.compile(r"CA[0-9a-f]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
# E.164: '+', a non-zero country digit, at most 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def is_call_sid(value: str) -> bool:
    return CALL_SID.fullmatch(value) is not None


def is_account_sid(value: str) -> bool:
    return ACCOUNT_SID.fullmatch(value) is not None


def is_e164(value: str) -> bool:
    return E164.fullmatch(value) is not None
