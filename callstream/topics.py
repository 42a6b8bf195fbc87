"""Topic names and the partition counts callstream creates them with."""

from __future__ import annotations

from dataclasses import dataclass

CALL_STATUS = "twilio.call-status"
DIALER_REQUESTS = "dialer.requests"
DIALER_OUTCOMES = "dialer.outcomes"
DIALER_DEAD_LETTER = "dialer.dead-letter"
# The dialer's durable send ledger (one record per state change of a request, keyed by
# AccountSid, co-partitioned with dialer.requests). An extension of the v1 contract.
DIALER_LEDGER = "dialer.ledger"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int


# dialer.requests and dialer.ledger must have the same partition count: the owner of a
# requests partition reads the ledger partition with the same number.
ALL_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(CALL_STATUS, 6),
    TopicSpec(DIALER_REQUESTS, 3),
    TopicSpec(DIALER_OUTCOMES, 3),
    TopicSpec(DIALER_DEAD_LETTER, 3),
    TopicSpec(DIALER_LEDGER, 3),
)


def with_prefix(prefix: str, specs: tuple[TopicSpec, ...] = ALL_TOPICS) -> tuple[TopicSpec, ...]:
    """The same topics under a name prefix (tests use one prefix per test)."""
    return tuple(TopicSpec(prefix + s.name, s.partitions) for s in specs)
