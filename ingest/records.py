"""What ingest may hand to Kafka, and which producer errors are about one record rather
than about the connection. Pure: no I/O.

A record the producer can never send (too large for ``max_request_size`` or for the
broker, invalid, for a topic that is gone) is not the same as Kafka being down: spooling
it would only move the failure into the spool's drain, where it blocked every later
callback. Such a record is refused at the door (the callback gets an error answer), and a
spooled row that fails this way is set aside into the spool's dead-letter table.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

# The producer's max_request_size (callstream.kafka_clients.producer_config) is 1 MiB. Everything
# ingest answers 204 stays under MAX_RECORD, so it can always be produced: a form body is
# at most 64 KiB (up to 6x that once JSON-escaped), the URL 8 KiB and the header fields
# 16 KiB (callstream.httplimits), which leaves MAX_RECORD itself as the second line.
MAX_RECORD = 512 * 1024
# what the record batch around one record may add (batch and record headers, the key)
RECORD_OVERHEAD = 4 * 1024


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Why one record cannot be produced: the HTTP answer for a live callback, and the
    reason kept with a set-aside spool row."""

    status: int
    code: str
    message: str


def size_problem(key: bytes | None, value: bytes, limit: int = MAX_RECORD) -> RecordProblem | None:
    size = len(value) + (len(key) if key else 0)
    if size <= limit:
        return None
    return RecordProblem(
        413, "record-too-large", f"the record would be {size} bytes, over the {limit}-byte limit"
    )


def check_producer_limit(max_request_size: int) -> None:
    """Refuse a configuration under which a record ingest accepts could not be produced."""
    if max_request_size < MAX_RECORD + RECORD_OVERHEAD:
        raise ValueError(
            f"the producer's max_request_size ({max_request_size}) must be at least "
            f"{MAX_RECORD + RECORD_OVERHEAD} bytes (ingest's record limit plus overhead)"
        )


def record_problem(exc: BaseException) -> RecordProblem | None:
    """The problem when ``exc`` (from ``send`` or from the acknowledgement) is about this
    record; None when it is about the connection or the broker (then: spool and retry)."""
    if isinstance(exc, MessageSizeTooLargeError | RecordListTooLargeError):
        return RecordProblem(413, "record-too-large", f"Kafka refused the record's size: {exc}")
    if isinstance(exc, InvalidRecordError | CorruptRecordError):
        return RecordProblem(422, "invalid-record", f"Kafka refused the record: {exc}")
    if isinstance(exc, InvalidTopicError | UnknownTopicOrPartitionError):
        return RecordProblem(503, "unknown-topic", f"Kafka does not know the topic: {exc}")
    if isinstance(exc, TopicAuthorizationFailedError):
        return RecordProblem(503, "topic-not-authorized", f"Kafka refused the topic: {exc}")
    if isinstance(exc, TypeError | ValueError | AssertionError):
        # raised by send() itself for a record it cannot serialize
        return RecordProblem(422, "invalid-record", f"the record cannot be serialized: {exc}")
    return None


def row_problem(exc: BaseException) -> RecordProblem | None:
    """For the spool's drain: only a problem with the row's own content sets it aside. A
    topic that went away is retried like Kafka being down (the new producer checks the
    topic and waits for it), or every row behind would be set aside with it."""
    problem = record_problem(exc)
    if problem is None or problem.code not in ("record-too-large", "invalid-record"):
        return None
    return problem
