"""Finishing a request: its dead-letter record (when it is given up), then its one outcome,
both waited for, and only then the commit of its offset on ``dialer.requests``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kafka.structs import OffsetAndMetadata

from callstream.timefmt import iso, now_iso
from dialer import ledger as lg
from dialer.deadletter import dead_letter_value
from dialer.decisions import Finish, malformed_error
from dialer.kafka_ops import Retrier, Topics
from dialer.metrics import DialerMetrics
from dialer.partitions import Head, Part

log = logging.getLogger("callstream.dialer")


@dataclass
class Outcomes:
    producer: Any
    consumer: Any
    topics: Topics
    retrier: Retrier
    metrics: DialerMetrics

    def finish(
        self, part: Part, head: Head, f: Finish, *, sent_at: float | None, attempts: int
    ) -> None:
        """Write what ``f`` says for the head's request, then commit it."""
        req = head.request
        assert req is not None
        if f.dead_letter is not None:
            self.dead_letter(part, head, req.to_dict(), f.error, f.dead_letter)
        extra = f.extra()
        if head.answered_at is not None:
            extra.setdefault("answered_at", iso(head.answered_at))
        out = lg.outcome_record(
            req.id,
            req.account_sid,
            result=f.result,
            call_sid=f.call_sid,
            sent_at=sent_at,
            error=f.error,
            attempts=attempts,
            **extra,
        )
        self.publish(part, out)
        self.commit(part, head)

    def malformed(self, part: Part, head: Head) -> None:
        """Dead-letter a record that is not a request; when it names an id and an account
        that have no outcome yet, write a ``rejected`` outcome too."""
        raw = head.raw
        obj = lg.decode(raw) if isinstance(raw, bytes) else None
        log.warning("malformed request", extra={"offset": head.offset, "problem": head.problem})
        err = malformed_error(head.problem)
        base: dict[str, Any]
        if isinstance(obj, dict):
            base = dict(obj)
        else:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None
            base = {"raw": text}
        self.dead_letter(part, head, base, err, "malformed")
        rid, acct = base.get("id"), base.get("account_sid")
        if isinstance(rid, str) and isinstance(acct, str) and part.state.get(acct, rid) is None:
            self.publish(
                part,
                lg.outcome_record(
                    rid, acct, result="rejected", call_sid=None, sent_at=None, error=err, attempts=0
                ),
            )
        self.commit(part, head)

    def publish(self, part: Part, out: dict[str, Any]) -> None:
        self.retrier.produce(
            self.producer,
            self.topics.outcomes,
            lg.encode(out),
            out["account_sid"].encode(),
            part.tp.partition,
        )
        part.state.apply_outcome(out)
        self.metrics.outcomes.labels(out["result"]).inc()

    def dead_letter(
        self,
        part: Part,
        head: Head,
        base: dict[str, Any],
        error: dict[str, Any] | None,
        reason: str,
    ) -> None:
        rec = {
            **base,
            "reason": {"kind": reason, **(error or {})},
            "dead_lettered_at": now_iso(),
            "source": {
                "topic": self.topics.requests,
                "partition": part.tp.partition,
                "offset": head.offset,
            },
        }
        key = head.key if isinstance(head.key, bytes) else None
        raw = head.raw if isinstance(head.raw, bytes) else None
        self.retrier.produce(
            self.producer, self.topics.dead, dead_letter_value(rec, raw), key, part.tp.partition
        )
        self.metrics.dead_letters.labels(reason).inc()

    def commit(self, part: Part, head: Head) -> None:
        """``head`` is finished: commit up to the lowest request of the partition not
        finished (another account's may be older than this one)."""
        offset = part.done(head)
        if offset is None:
            return
        try:
            self.consumer.commit({part.tp: OffsetAndMetadata(offset, "", -1)})
        except Exception as e:  # the partition moved on; the ledger covers the redelivery
            log.warning(
                "commit failed",
                extra={"partition": part.tp.partition, "offset": offset, "error": str(e)},
            )
