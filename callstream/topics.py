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
# Twilio Event Streams deliveries, one CloudEvent per record as received (docs/event-streams.md).
TWILIO_EVENTS = "twilio.events"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: tuple[tuple[str, str], ...] = ()


# The callback log is the source of truth the projector is rebuilt from, and the dialer's
# ledger and outcomes are what stop a request id from being dialed twice: keep them until
# an operator decides otherwise (Kafka's default retention is 7 days).
KEEP = (("retention.ms", "-1"),)


# dialer.requests and dialer.ledger must have the same partition count: the owner of a
# requests partition reads the ledger partition with the same number.
ALL_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(CALL_STATUS, 6, KEEP),
    TopicSpec(DIALER_REQUESTS, 3),
    TopicSpec(DIALER_OUTCOMES, 3, KEEP),
    TopicSpec(DIALER_DEAD_LETTER, 3, KEEP),
    TopicSpec(DIALER_LEDGER, 3, KEEP),
    # kept like the callback log: its call-progress events are folded into the same rows
    TopicSpec(TWILIO_EVENTS, 6, KEEP),
)


def with_prefix(prefix: str, specs: tuple[TopicSpec, ...] = ALL_TOPICS) -> tuple[TopicSpec, ...]:
    """The same topics under a name prefix (tests use one prefix per test)."""
    return tuple(TopicSpec(prefix + s.name, s.partitions, s.configs) for s in specs)
