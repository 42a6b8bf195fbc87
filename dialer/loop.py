"""The dialer loop: consume requests, pace per account, record in the ledger, send, publish.

One thread does everything that touches Kafka or Twilio, so a rebalance (which happens
only inside ``poll()``) can never overlap a send. This module only wires the parts
together; each rule lives in a module of its own:

* :mod:`dialer.partitions` - owned partitions, their fetched records, pause, rebalance;
* :mod:`dialer.ledger_fence` - reading the ledger, fenced ledger writes;
* :mod:`dialer.decisions` - send, wait, reconcile, retry, finish or give up (pure);
* :mod:`dialer.matching` - which listed call a create in doubt made (pure);
* :mod:`dialer.pacing` - when an account may send next (pure);
* :mod:`dialer.accounts` - each account's spacing, and lookups of unknown accounts;
* :mod:`dialer.outcomes` - dead letter, outcome, commit.

The steps for one request are in docs/dialer.md, *The loop*.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import uuid
from typing import Any

from callstream.accounts import require_accounts
from callstream.settings import Settings
from callstream.subaccounts import AccountBook
from dialer import decisions as dc
from dialer import ledger as lg
from dialer import matching
from dialer.accounts import DialerAccounts
from dialer.kafka_ops import Retrier, Stopped, Topics
from dialer.ledger_fence import FencedLedger
from dialer.logread import PartitionReader
from dialer.metrics import DialerMetrics
from dialer.outcomes import Outcomes
from dialer.pacing import Pacer
from dialer.partitions import Head, Part, Partitions, check_partition_counts
from dialer.ports import Clock, KafkaClients, SystemClock
from dialer.retry import Backoff, Failure, classify
from dialer.twilio_api import CallsApi, Created

log = logging.getLogger("callstream.dialer")

LEAD_S = 0.03  # write `sending` this long before the paced start, then sleep precisely
POLL_GUARD_S = 0.1  # stop polling this long before a start; plain sleep after that


class Dialer:
    def __init__(
        self,
        settings: Settings,
        calls: CallsApi,
        clients: KafkaClients,
        *,
        clock: Clock | None = None,
        owner: str | None = None,
        margin_s: float | None = None,
        causal_spacing: bool = True,
        backoff: Backoff | None = None,
        http_timeout_s: float = 15.0,
        in_doubt_grace_s: float = 5.0,
        group_id: str | None = None,
        book: AccountBook | None = None,
    ) -> None:
        settings.require("public_url")
        self.settings = settings
        self.book = book if book is not None else AccountBook(require_accounts(settings))
        self.calls = calls
        self.clients = clients
        self.clock = clock or SystemClock()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.accounts = DialerAccounts(
            self.book, settings.cps, self.clock, margin_s, causal_spacing
        )
        self.spacing = self.accounts.spacing("")  # CALLSTREAM_CPS's, for the gap histogram
        self.pacer = Pacer(self.spacing, self.accounts.spacing)
        self.backoff = backoff or Backoff()
        self.in_doubt_after_s = http_timeout_s + in_doubt_grace_s
        self.group_id = group_id or settings.topic("callstream-dialer")
        self.status_callback = settings.status_callback_url
        self.topics = Topics.of(settings)
        self.metrics = DialerMetrics(self.spacing.interval_s)
        self.partitions = Partitions(self.topics.requests)
        self.joined = self.partitions.joined
        self.stop_event = threading.Event()
        self.retrier = Retrier(self.stop_event)
        self.failed: BaseException | None = None
        self._last_start: dict[str, float] = {}
        self._rnd = random.Random()
        self.consumer: Any = None
        self.producer: Any = None
        self.reader: PartitionReader | None = None
        self.ledger: FencedLedger | None = None
        self.outcomes: Outcomes | None = None

    @property
    def parts(self) -> dict[int, Part]:
        return self.partitions.parts

    # -- lifecycle ----------------------------------------------------------------------
    def run(self) -> None:
        """Run until :meth:`stop`; re-raises a fatal error after closing the clients."""
        try:
            self._open()
            self.book.start()
            log.info(
                "dialer started",
                extra={
                    "owner": self.owner,
                    "group": self.group_id,
                    "cps": self.settings.cps,
                    "accounts": [a.sid for a in self.book.all()],
                    "twilio_api_url": self.settings.twilio_api_url,
                },
            )
            while not self.stop_event.is_set():
                self._tick()
        except Stopped:
            pass
        except BaseException as e:
            self.failed = e
            log.exception("dialer failed")
            raise
        finally:
            self.book.stop()
            self._close()

    def stop(self) -> None:
        self.stop_event.set()

    def _open(self) -> None:
        self.producer = self.clients.producer(f"dialer-{self.owner}")
        check_partition_counts(self.producer, self.topics.all())
        self.reader = PartitionReader(self.clients.reader_consumer(f"dialer-ledger-{self.owner}"))
        self.consumer = self.clients.group_consumer(f"dialer-{self.owner}", self.group_id)
        retrier, metrics = self.retrier, self.metrics
        self.ledger = FencedLedger(
            self.producer,
            self.reader,
            self.topics,
            self.owner,
            retrier,
            metrics,
            self.clock,
            self._inherit,
        )
        self.outcomes = Outcomes(self.producer, self.consumer, self.topics, retrier, metrics)
        self.consumer.subscribe([self.topics.requests], listener=self.partitions.listener())

    def _close(self) -> None:
        for closer in (self.consumer, self.reader, self.producer):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        self.consumer = self.reader = self.producer = None
        log.info("dialer stopped", extra={"owner": self.owner})

    def status(self) -> tuple[bool, dict[str, Any]]:
        """For ``/readyz``: joined and every owned partition's ledger read."""
        parts = dict(self.parts)
        ready = self.joined.is_set() and all(p.rebuilt for p in parts.values())
        return ready and self.failed is None, {
            "owner": self.owner,
            "partitions": sorted(parts),
            "rebuilt": sorted(p for p, st in parts.items() if st.rebuilt),
        }

    def _inherit(self, last_sent: dict[str, float]) -> None:
        now_w, now_m = self.clock.wall(), self.clock.monotonic()
        for acct, last in last_sent.items():
            self.pacer.inherit(acct, last, now_w, now_m)

    # -- the loop -----------------------------------------------------------------------
    def _tick(self) -> None:
        now = self.clock.monotonic()
        nxt = self._next_ready(now)
        wait = 0.25 if nxt is None else nxt[2] - now - LEAD_S
        if wait > POLL_GUARD_S or nxt is None:
            self._poll(min(wait - POLL_GUARD_S, 0.25) if nxt else 0.25)
            return
        # close to a start (or late): take what Kafka has without waiting, then go
        self._poll(0.0)
        nxt = self._next_ready(self.clock.monotonic())
        if nxt is None:
            return
        part, head, ready = nxt
        gap = ready - self.clock.monotonic() - LEAD_S
        if gap > POLL_GUARD_S:
            return
        if gap > 0:
            self.retrier.sleep(gap)
        self._process(part, head)

    def _poll(self, timeout_s: float) -> None:
        consumer = self.consumer
        assert consumer is not None and self.ledger is not None
        batch = consumer.poll(timeout_ms=max(0, int(timeout_s * 1000)), max_records=100)
        fresh = self.partitions.apply_events(consumer, self.retrier.run)
        self.metrics.partitions.set(len(self.parts))
        self.partitions.add(batch, fresh)
        self.partitions.flow_control(consumer)
        now = self.clock.monotonic()
        due = [p for p in self.parts.values() if not p.rebuilt and now >= p.retry_rebuild_at]
        if due:
            self.ledger.rebuild(due)
        self.metrics.backlog.set(self.partitions.backlog(consumer))

    def _next_ready(self, now: float) -> tuple[Part, Head, float] | None:
        """The account's first request (of any owned partition) that may be handled
        soonest, and when: each account waits on its own pace, backoff and lookups only."""
        best: tuple[Part, Head, float] | None = None
        for part in self.parts.values():
            if not part.rebuilt:
                continue
            for head in part.heads():
                t = head.not_before
                if head.request is not None:
                    r = self.pacer.ready_at(head.request.account_sid)
                    if r is not None and self._would_send(part, head):
                        t = max(t, r)
                if best is None or t < best[2]:
                    best = (part, head, t)
        return best

    def _would_send(self, part: Part, head: Head) -> bool:
        assert head.request is not None
        if head.refresh:
            return False
        e = part.state.get(head.request.account_sid, head.request.id)
        action, _ = dc.decide(e, self.clock.wall(), self.in_doubt_after_s)
        return action is dc.Action.SEND

    # -- handling one request -----------------------------------------------------------
    def _process(self, part: Part, head: Head) -> None:
        assert self.outcomes is not None and self.ledger is not None
        if head.request is None:
            self.outcomes.malformed(part, head)
            return
        if head.refresh:
            head.refresh = False
            self.ledger.refresh(part)
        req = head.request
        entry = part.state.get(req.account_sid, req.id)
        if self.book.get(req.account_sid) is None:
            if entry is not None:
                self.outcomes.commit(part, head)  # already answered
            elif self.accounts.looked_up(head) and self.book.get(req.account_sid) is None:
                f = dc.unknown_account(req.account_sid)
                self.outcomes.finish(part, head, f, sent_at=None, attempts=0)
            return
        action, until = dc.decide(entry, self.clock.wall(), self.in_doubt_after_s)
        if action is dc.Action.SKIP:
            self.metrics.duplicates.inc()
            log.info("already has an outcome; not sent again", extra={"id": req.id})
            self.outcomes.commit(part, head)
        elif action is dc.Action.WAIT:
            head.not_before = self.clock.monotonic() + max(0.0, until - self.clock.wall())
            head.refresh = True
            log.info(
                "waiting for the outcome of a recent send",
                extra={"id": req.id, "owner": entry.owner if entry else None},
            )
        elif action is dc.Action.RECONCILE:
            assert entry is not None
            lookup = dc.Lookup("left sending by a crash")
            self._reconcile(part, head, lookup, sent_at=entry.sent_at, attempt=entry.attempts)
        else:
            self._send(part, head, entry)

    def _send(self, part: Part, head: Head, entry: lg.Entry | None) -> None:
        req = head.request
        assert req is not None and self.ledger is not None
        clock, acct = self.clock, req.account_sid
        attempt = (entry.attempts if entry else 0) + 1
        now_m = clock.monotonic()
        start = max(now_m, head.not_before, self.pacer.ready_at(acct) or now_m)
        planned = clock.wall() + (start - now_m)
        rec = lg.sending_record(
            req.id,
            acct,
            to=req.to,
            from_=req.from_,
            attempt=attempt,
            sent_at=planned,
            owner=self.owner,
        )
        if not self.ledger.write(part, rec):
            self.ledger.write(part, lg.abandoned_record(req.id, acct, attempt, self.owner))
            part.rebuilt = False  # read the whole ledger again before the next decision
            return
        delay = start - clock.monotonic()
        if delay > 0:
            clock.sleep(delay)  # precise, and short (at most LEAD_S plus the write)
        t0, w0 = clock.monotonic(), clock.wall()
        prev = self._last_start.get(acct)
        if prev is not None:
            self.metrics.gaps.observe(t0 - prev)
        self._last_start[acct] = t0
        self.pacer.sent(acct, t0)
        answer = self.calls.create(req, self.status_callback)
        t1 = clock.monotonic()
        self.pacer.answered(acct, t1)
        head.answered_at = clock.wall()
        if isinstance(answer, Created):
            self.metrics.attempts.labels("created").inc()
            if answer.call_sid is not None:
                timing = {
                    "gap_ms": round((t0 - prev) * 1000, 1) if prev is not None else None,
                    "late_ms": round((t0 - start) * 1000, 1),  # after the planned start
                    "rtt_ms": round((t1 - t0) * 1000, 1),
                }
                log.info(
                    "call created",
                    extra={"id": req.id, "call_sid": answer.call_sid, "attempt": attempt, **timing},
                )
            step = dc.after_answer(answer.call_sid, None, attempt, self.backoff)
        else:
            self._log_failure(req.id, answer, attempt)
            step = dc.after_answer(None, answer, attempt, self.backoff)
        self._act(part, head, step, attempt=attempt, t0=t0, w0=w0)

    def _log_failure(self, rid: str, f: Failure, attempt: int) -> None:
        self.metrics.attempts.labels(str(f.status or f.code)).inc()
        log.info(
            "create failed",
            extra={
                "id": rid,
                "status": f.status,
                "code": f.code,
                # not "message": a reserved LogRecord attribute (KeyError at INFO level)
                "error_message": f.message,
                "verdict": classify(f).value,
                "attempt": attempt,
            },
        )

    def _act(
        self, part: Part, head: Head, step: dc.Step, *, attempt: int, t0: float, w0: float
    ) -> None:
        """Carry out what the decision core said after an answer."""
        assert self.outcomes is not None and self.ledger is not None
        req = head.request
        assert req is not None
        if isinstance(step, dc.Lookup):
            self._reconcile(part, head, step, sent_at=w0, attempt=attempt, t0=t0)
        elif isinstance(step, dc.Finish):
            self.outcomes.finish(part, head, step, sent_at=w0, attempts=attempt)
        else:
            rec = lg.retry_record(req.id, req.account_sid, attempt, step.error, self.owner)
            self.ledger.write(part, rec)
            head.not_before = t0 + self.backoff.delay(attempt, self._rnd)

    def _reconcile(
        self,
        part: Part,
        head: Head,
        lookup: dc.Lookup,
        *,
        sent_at: float | None,
        attempt: int,
        t0: float = 0.0,
    ) -> None:
        """Look up the call a create in doubt may have made and act on what it implies."""
        assert self.outcomes is not None
        req = head.request
        assert req is not None
        try:
            found = self.calls.find(req.to, req.from_, req.account_sid)
        except Exception as e:
            log.warning("call lookup failed", extra={"id": req.id, "error": str(e)})
            m = matching.UNREADABLE
        else:
            m = matching.match(found, req.to, req.from_, sent_at, part.state.call_sids)
        finish = dc.after_lookup(m, lookup.why, lookup.failure)
        if finish is None:
            assert lookup.failure is not None
            self._act(
                part,
                head,
                dc.retry_or_give_up(lookup.failure, attempt, self.backoff),
                attempt=attempt,
                t0=t0,
                w0=sent_at or 0.0,
            )
            return
        log.warning("in doubt", extra={"id": req.id, "reconciliation": m.status, "call_sid": m.sid})
        self.outcomes.finish(part, head, finish, sent_at=sent_at, attempts=attempt)
