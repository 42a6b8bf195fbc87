"""The dialer loop: consume requests, pace per account, record in the ledger, send, publish.

One thread does everything that touches Kafka or Twilio, so a rebalance (which happens
only inside ``poll()``) can never overlap a send. For each owned ``dialer.requests``
partition *p* the loop keeps the fold of ledger partition *p* (see :mod:`dialer.ledger`)
and the records fetched but not finished, and handles them in order:

1. decide from the ledger: send, skip (already has an outcome), wait for a recent
   ``sending`` of someone else, or reconcile an old one (in doubt);
2. wait until the account's pacing allows a send (polling meanwhile, so rebalances are not
   held up), write ``sending`` and wait for the broker's acknowledgement;
3. check the ledger offset it got is the one expected: if another writer got there first,
   write ``abandoned``, do not send, and read the ledger again (a fence against a second
   owner, e.g. a paused process that woke up);
4. send the create request at the exact paced time, then publish the outcome (and the
   dead-letter record) durably, and only then commit the request's offset.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from callstream import kafka_clients as ck
from callstream import topics
from callstream.dialrequest import DialRequest, DialRequestError, from_record
from callstream.envelope import utc_now_iso
from callstream.settings import Settings
from dialer import ledger as lg
from dialer.deadletter import dead_letter_value
from dialer.errors import Backoff, Failure, Verdict, classify
from dialer.logread import PartitionReader
from dialer.metrics import DialerMetrics
from dialer.pacing import Pacer, Spacing
from dialer.twilio_api import CallsApi, Created

log = logging.getLogger("callstream.dialer")
T = TypeVar("T")

LEAD_S = 0.03  # write `sending` this long before the paced start, then sleep precisely
POLL_GUARD_S = 0.1  # stop polling this long before a start; plain sleep after that
MAX_BUFFER = 200  # fetched records per partition before it is paused
CLOCK_SKEW_S = 2.0  # tolerated difference between our wall clock and Twilio's


@dataclass
class Head:
    """The first unfinished record of a partition."""

    offset: int
    raw: Any
    key: bytes | None
    request: DialRequest | None
    problem: str | None = None  # why the record is malformed
    not_before: float = 0.0  # monotonic
    refresh: bool = False  # read the ledger's new records before deciding
    answered_at: float | None = None  # wall clock: when the last attempt's answer came


@dataclass
class Part:
    tp: TopicPartition
    state: lg.LedgerState = field(default_factory=lg.LedgerState)
    ledger_end: int = 0  # offset our next ledger write should get
    rebuilt: bool = False
    buffer: deque[Any] = field(default_factory=deque)
    head: Head | None = None
    paused: bool = False
    retry_rebuild_at: float = 0.0


class Stopped(Exception):
    """Raised inside the loop when a stop was requested while waiting on Kafka."""


class Dialer:
    def __init__(
        self,
        settings: Settings,
        profile: ck.BrokerProfile,
        calls: CallsApi,
        *,
        owner: str | None = None,
        margin_s: float | None = None,
        causal_spacing: bool = True,
        backoff: Backoff | None = None,
        http_timeout_s: float = 15.0,
        in_doubt_grace_s: float = 5.0,
        group_id: str | None = None,
    ) -> None:
        settings.require("twilio_account_sid", "public_url")
        self.settings = settings
        self.profile = profile
        self.calls = calls
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.spacing = Spacing.for_cps(settings.cps, margin_s, causal_spacing)
        self.pacer = Pacer(self.spacing)
        self.backoff = backoff or Backoff()
        self.in_doubt_after_s = http_timeout_s + in_doubt_grace_s
        self.group_id = group_id or settings.topic("callstream-dialer")
        self.status_callback = settings.status_callback_url
        self.t_requests = settings.topic(topics.DIALER_REQUESTS)
        self.t_ledger = settings.topic(topics.DIALER_LEDGER)
        self.t_outcomes = settings.topic(topics.DIALER_OUTCOMES)
        self.t_dead = settings.topic(topics.DIALER_DEAD_LETTER)
        self.metrics = DialerMetrics(self.spacing.interval_s)
        self.parts: dict[int, Part] = {}
        self.stop_event = threading.Event()
        self.joined = threading.Event()
        self.failed: BaseException | None = None
        self._events: list[tuple[str, set[int]]] = []
        self._events_lock = threading.Lock()
        self._last_start: dict[str, float] = {}
        self._rnd = random.Random()
        self.consumer: KafkaConsumer | None = None
        self.producer: KafkaProducer | None = None
        self.reader: PartitionReader | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def run(self) -> None:
        """Run until :meth:`stop`; re-raises a fatal error after closing the clients."""
        try:
            self._open()
            log.info(
                "dialer started",
                extra={
                    "owner": self.owner,
                    "group": self.group_id,
                    "cps": self.settings.cps,
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
            self._close()

    def stop(self) -> None:
        self.stop_event.set()

    def _open(self) -> None:
        s = self.settings
        self.producer = ck.make_producer(s, f"dialer-{self.owner}", linger_ms=0)
        self._check_partitions()
        self.reader = PartitionReader(
            ck.make_consumer(s, self.profile, client_id=f"dialer-ledger-{self.owner}")
        )
        self.consumer = ck.make_consumer(
            s,
            self.profile,
            client_id=f"dialer-{self.owner}",
            group_id=self.group_id,
            max_poll_records=100,
            max_poll_interval_ms=120000,
        )
        self.consumer.subscribe([self.t_requests], listener=_Listener(self))

    def _check_partitions(self) -> None:
        assert self.producer is not None
        counts = {}
        for t in (self.t_requests, self.t_ledger, self.t_outcomes, self.t_dead):
            parts = self.producer.partitions_for(t)
            counts[t] = len(parts) if parts else 0
        need = counts[self.t_requests]
        short = [f"{t} has {n}" for t, n in counts.items() if n < need]
        if short:
            raise RuntimeError(
                f"{self.t_requests} has {need} partitions but "
                + ", ".join(short)
                + "; the ledger, outcomes and dead-letter topics need at least as many"
            )

    def _close(self) -> None:
        for closer in (self.consumer, self.reader, self.producer):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        self.consumer = self.reader = self.producer = None
        log.info("dialer stopped", extra={"owner": self.owner})

    # -- status for /readyz and /metrics -------------------------------------------------
    def status(self) -> tuple[bool, dict[str, Any]]:
        parts = dict(self.parts)
        ready = self.joined.is_set() and all(p.rebuilt for p in parts.values())
        return ready and self.failed is None, {
            "owner": self.owner,
            "partitions": sorted(parts),
            "rebuilt": sorted(p for p, st in parts.items() if st.rebuilt),
        }

    # -- the loop -----------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        nxt = self._next_ready(now)
        wait = 0.25 if nxt is None else nxt[1] - now - LEAD_S
        if wait > POLL_GUARD_S or nxt is None:
            self._poll(min(wait - POLL_GUARD_S, 0.25) if nxt else 0.25)
            return
        # close to a start (or late): take what Kafka has without waiting, then go
        self._poll(0.0)
        nxt = self._next_ready(time.monotonic())
        if nxt is None:
            return
        part, ready = nxt
        gap = ready - time.monotonic() - LEAD_S
        if gap > POLL_GUARD_S:
            return
        if gap > 0:
            self._sleep(gap)
        self._process(part)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.stop_event.wait(seconds):
            raise Stopped

    def _poll(self, timeout_s: float) -> None:
        assert self.consumer is not None
        batch = self.consumer.poll(timeout_ms=max(0, int(timeout_s * 1000)), max_records=100)
        fresh = self._apply_events()
        for tp, recs in batch.items():
            part = self.parts.get(tp.partition)
            if part is None or tp.topic != self.t_requests or tp.partition in fresh:
                continue
            part.buffer.extend(recs)
        self._flow_control()
        now = time.monotonic()
        due = [p for p in self.parts.values() if not p.rebuilt and now >= p.retry_rebuild_at]
        if due:
            self._rebuild(due)
        self._update_backlog()

    def _apply_events(self) -> set[int]:
        """Apply the rebalances seen during the last poll; return the partitions that were
        (re)assigned. Their fetch position is moved back to the committed offset: records
        fetched but not finished before a revocation must be fetched again."""
        assert self.consumer is not None
        with self._events_lock:
            events, self._events = self._events, []
        fresh: set[int] = set()
        for kind, nums in events:
            if kind == "revoked":
                for n in nums:
                    self.parts.pop(n, None)
                    fresh.discard(n)
            else:
                for n in nums:
                    self.parts[n] = Part(TopicPartition(self.t_requests, n))
                    fresh.add(n)
                self.joined.set()
                log.info("partitions assigned", extra={"partitions": sorted(self.parts)})
        consumer = self.consumer
        for n in sorted(fresh):
            tp = self.parts[n].tp
            committed: int | None = self._kafka(partial(consumer.committed, tp))
            if committed is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        self.metrics.partitions.set(len(self.parts))
        return fresh

    def _flow_control(self) -> None:
        assert self.consumer is not None
        for part in self.parts.values():
            n = len(part.buffer)
            if n >= MAX_BUFFER and not part.paused:
                self.consumer.pause(part.tp)
                part.paused = True
            elif n < MAX_BUFFER // 2 and part.paused:
                self.consumer.resume(part.tp)
                part.paused = False

    def _update_backlog(self) -> None:
        assert self.consumer is not None
        total = 0
        for part in self.parts.values():
            total += len(part.buffer) + (1 if part.head else 0)
            hw = self.consumer.highwater(part.tp)
            if hw is not None:
                with contextlib.suppress(Exception):
                    total += max(0, hw - self.consumer.position(part.tp))
        self.metrics.backlog.set(total)

    def _next_ready(self, now: float) -> tuple[Part, float] | None:
        """The partition whose first record may be handled soonest, and when."""
        best: tuple[Part, float] | None = None
        for part in self.parts.values():
            if not part.rebuilt:
                continue
            head = self._head(part)
            if head is None:
                continue
            t = head.not_before
            if head.request is not None:
                r = self.pacer.ready_at(head.request.account_sid)
                if r is not None and self._would_send(part, head):
                    t = max(t, r)
            if best is None or t < best[1]:
                best = (part, t)
        return best

    def _would_send(self, part: Part, head: Head) -> bool:
        assert head.request is not None
        if head.refresh:
            return False
        e = part.state.get(head.request.account_sid, head.request.id)
        action, _ = lg.decide(e, time.time(), self.in_doubt_after_s)
        return action is lg.Action.SEND

    def _head(self, part: Part) -> Head | None:
        if part.head is None and part.buffer:
            rec = part.buffer.popleft()
            try:
                req = from_record(rec.value if rec.value is not None else b"")
                part.head = Head(rec.offset, rec.value, rec.key, req)
            except DialRequestError as e:
                part.head = Head(rec.offset, rec.value, rec.key, None, problem=str(e))
        return part.head

    # -- ledger -------------------------------------------------------------------------
    def _ledger_tps(self, n: int) -> list[TopicPartition]:
        return [TopicPartition(self.t_ledger, n), TopicPartition(self.t_outcomes, n)]

    def _rebuild(self, parts: list[Part]) -> None:
        """Read the ledgers of ``parts`` from the start (in one pass) and fold them."""
        assert self.reader is not None
        tps = [tp for part in parts for tp in self._ledger_tps(part.tp.partition)]
        try:
            recs = self.reader.read(tps, from_start=True)
        except Exception as e:
            for part in parts:
                part.retry_rebuild_at = time.monotonic() + 1.0
            log.warning("ledger read failed", extra={"error": str(e)})
            return
        now_w, now_m = time.time(), time.monotonic()
        for part in parts:
            n = part.tp.partition
            mine = [r for r in recs if r[0].partition == n]
            state = lg.LedgerState()
            self._fold(state, mine)
            part.state = state
            part.ledger_end = self.reader.end_of(TopicPartition(self.t_ledger, n))
            for acct, last in state.last_sent.items():
                self.pacer.inherit(acct, last, now_w, now_m)
            part.rebuilt = True
            self.metrics.rebuilds.inc()
            log.info(
                "ledger read",
                extra={
                    "partition": n,
                    "records": len(mine),
                    "requests": len(state.entries),
                    "ledger_end": part.ledger_end,
                },
            )

    def _refresh(self, part: Part) -> None:
        """Fold the ledger records written since the last read (by anyone)."""
        reader = self.reader
        assert reader is not None
        n = part.tp.partition
        recs = self._kafka(lambda: reader.read(self._ledger_tps(n), from_start=False))
        others = lg.LedgerState()
        self._fold(part.state, recs)
        self._fold(others, [r for r in recs if _owner(r[2]) not in (None, self.owner)])
        now_w, now_m = time.time(), time.monotonic()
        for acct, last in others.last_sent.items():
            self.pacer.inherit(acct, last, now_w, now_m)
        end = reader.end_of(TopicPartition(self.t_ledger, n))
        part.ledger_end = max(part.ledger_end, end)

    def _fold(self, state: lg.LedgerState, recs: list[tuple[TopicPartition, int, Any]]) -> None:
        for tp, _off, raw in recs:
            obj = lg.decode(raw)
            if tp.topic == self.t_ledger:
                state.apply_ledger(obj)
            else:
                state.apply_outcome(obj)

    def _ledger_write(self, part: Part, rec: dict[str, Any]) -> bool:
        """Write one ledger record; False when another writer's records came first."""
        assert self.producer is not None
        producer = self.producer
        md = self._kafka(
            lambda: producer.send(
                self.t_ledger,
                lg.encode(rec),
                key=rec["account_sid"].encode(),
                partition=part.tp.partition,
            ).get(timeout=15)
        )
        ok = bool(md.offset == part.ledger_end)
        if not ok:
            self.metrics.ledger_conflicts.inc()
            log.warning(
                "ledger conflict: another writer on this partition",
                extra={
                    "partition": part.tp.partition,
                    "expected": part.ledger_end,
                    "got": md.offset,
                    "type": rec["type"],
                    "id": rec["id"],
                },
            )
        part.ledger_end = md.offset + 1
        part.state.apply_ledger(rec)
        return ok

    def _kafka(self, fn: Callable[[], T]) -> T:
        """Run a Kafka operation until it succeeds; the broker may be restarting."""
        delay = 0.2
        while True:
            try:
                return fn()
            except Exception as e:
                if self.stop_event.is_set():
                    raise Stopped from e
                log.warning("kafka operation failed; retrying", extra={"error": str(e)})
                self._sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- handling one request -----------------------------------------------------------
    def _process(self, part: Part) -> None:
        head = part.head
        assert head is not None
        if head.request is None:
            self._malformed(part, head)
            return
        if head.refresh:
            head.refresh = False
            self._refresh(part)
        req = head.request
        if req.account_sid != self.settings.twilio_account_sid:
            self._reject_unknown_account(part, head)
            return
        entry = part.state.get(req.account_sid, req.id)
        action, until = lg.decide(entry, time.time(), self.in_doubt_after_s)
        if action is lg.Action.SKIP:
            self.metrics.duplicates.inc()
            log.info("already has an outcome; not sent again", extra={"id": req.id})
            self._commit(part, head)
        elif action is lg.Action.WAIT:
            head.not_before = time.monotonic() + max(0.0, until - time.time())
            head.refresh = True
            log.info(
                "waiting for the outcome of a recent send",
                extra={"id": req.id, "owner": entry.owner if entry else None},
            )
        elif action is lg.Action.RECONCILE:
            assert entry is not None
            self._in_doubt(part, head, entry.sent_at, entry.attempts, "left sending by a crash")
        else:
            self._send(part, head, entry)

    def _send(self, part: Part, head: Head, entry: lg.Entry | None) -> None:
        req = head.request
        assert req is not None
        acct = req.account_sid
        attempt = (entry.attempts if entry else 0) + 1
        now_m = time.monotonic()
        start = max(now_m, head.not_before, self.pacer.ready_at(acct) or now_m)
        planned = time.time() + (start - now_m)
        rec = lg.sending_record(
            req.id,
            acct,
            to=req.to,
            from_=req.from_,
            attempt=attempt,
            sent_at=planned,
            owner=self.owner,
        )
        if not self._ledger_write(part, rec):
            self._ledger_write(part, lg.abandoned_record(req.id, acct, attempt, self.owner))
            part.rebuilt = False  # read the whole ledger again before the next decision
            return
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # precise, and short (at most LEAD_S plus the write)
        t0, w0 = time.monotonic(), time.time()
        prev = self._last_start.get(acct)
        if prev is not None:
            self.metrics.gaps.observe(t0 - prev)
        self._last_start[acct] = t0
        self.pacer.sent(acct, t0)
        answer = self.calls.create(req, self.status_callback)
        t1 = time.monotonic()
        self.pacer.answered(acct, t1)
        head.answered_at = time.time()
        timing = {
            "gap_ms": round((t0 - prev) * 1000, 1) if prev is not None else None,
            "late_ms": round((t0 - start) * 1000, 1),  # after the planned start
            "rtt_ms": round((t1 - t0) * 1000, 1),
        }
        if isinstance(answer, Created):
            self.metrics.attempts.labels("created").inc()
            if answer.call_sid is None:
                self._in_doubt(part, head, w0, attempt, "201 without a call sid")
                return
            log.info(
                "call created",
                extra={"id": req.id, "call_sid": answer.call_sid, "attempt": attempt, **timing},
            )
            self._finish(
                part,
                head,
                result="created",
                call_sid=answer.call_sid,
                sent_at=w0,
                error=None,
                attempts=attempt,
            )
            return
        self._failed(part, head, answer, attempt=attempt, t0=t0, w0=w0)

    def _failed(
        self, part: Part, head: Head, f: Failure, *, attempt: int, t0: float, w0: float
    ) -> None:
        req = head.request
        assert req is not None
        verdict = classify(f)
        self.metrics.attempts.labels(str(f.status or f.code)).inc()
        log.info(
            "create failed",
            extra={
                "id": req.id,
                "status": f.status,
                "code": f.code,
                # not "message": a reserved LogRecord attribute (KeyError at INFO level)
                "error_message": f.message,
                "verdict": verdict.value,
                "attempt": attempt,
            },
        )
        if verdict is Verdict.REJECT:
            self._finish(
                part,
                head,
                result="rejected",
                call_sid=None,
                sent_at=w0,
                error=f.as_error(),
                attempts=attempt,
                dead_letter="rejected-by-twilio",
            )
            return
        if verdict is Verdict.IN_DOUBT:
            self._in_doubt(part, head, w0, attempt, f"no clear answer: {f.message}")
            return
        if verdict is Verdict.VERIFY_THEN_RETRY:
            status, sid, cands = self._lookup(part, req, w0)
            if status != "not-found":
                self._in_doubt_finish(
                    part,
                    head,
                    sent_at=w0,
                    attempts=attempt,
                    status=status,
                    sid=sid,
                    cands=cands,
                    why=f"HTTP {f.status} but the call may exist",
                )
                return
        if self.backoff.gives_up_after(attempt):
            self._finish(
                part,
                head,
                result="rejected",
                call_sid=None,
                sent_at=w0,
                error=f.as_error(),
                attempts=attempt,
                dead_letter="retries-exhausted",
            )
            return
        self._ledger_write(
            part, lg.retry_record(req.id, req.account_sid, attempt, f.as_error(), self.owner)
        )
        head.not_before = t0 + self.backoff.delay(attempt, self._rnd)

    def _lookup(
        self, part: Part, req: DialRequest, since_wall: float | None
    ) -> tuple[str, str | None, list[str]]:
        """Find the call a create in doubt may have made: ``matched`` (one candidate),
        ``not-found``, ``ambiguous`` or ``unavailable`` (the lookup failed)."""
        try:
            calls = self.calls.find(req.to, req.from_)
        except Exception as e:
            log.warning("call lookup failed", extra={"id": req.id, "error": str(e)})
            return "unavailable", None, []
        floor = -math.inf if since_wall is None else math.floor(since_wall) - 1 - CLOCK_SKEW_S
        known = part.state.call_sids
        cands = [
            c.sid
            for c in calls
            if c.sid not in known
            and c.to in (None, req.to)
            and c.from_ in (None, req.from_)
            and (c.date_created is None or c.date_created >= floor)
        ]
        if not cands:
            return "not-found", None, []
        if len(cands) == 1:
            return "matched", cands[0], cands
        return "ambiguous", None, cands

    def _in_doubt(
        self, part: Part, head: Head, sent_at: float | None, attempts: int, why: str
    ) -> None:
        req = head.request
        assert req is not None
        status, sid, cands = self._lookup(part, req, sent_at)
        self._in_doubt_finish(
            part,
            head,
            sent_at=sent_at,
            attempts=attempts,
            status=status,
            sid=sid,
            cands=cands,
            why=why,
        )

    def _in_doubt_finish(
        self,
        part: Part,
        head: Head,
        *,
        sent_at: float | None,
        attempts: int,
        status: str,
        sid: str | None,
        cands: list[str],
        why: str,
    ) -> None:
        req = head.request
        assert req is not None
        if status == "matched":
            msg = f"{why}; found call {sid} with the same To and From; not sent again"
        elif status == "not-found":
            msg = f"{why}; no matching call found; not sent again (submit a new id to retry)"
        elif status == "ambiguous":
            msg = f"{why}; {len(cands)} matching calls found; not sent again"
        else:
            msg = f"{why}; the call list could not be read; not sent again"
        log.warning("in doubt", extra={"id": req.id, "reconciliation": status, "call_sid": sid})
        self._finish(
            part,
            head,
            result="in-doubt",
            call_sid=sid,
            sent_at=sent_at,
            error={"code": "in-doubt", "message": msg},
            attempts=attempts,
            dead_letter=None if status == "matched" else f"in-doubt-{status}",
            reconciliation=status,
            candidates=cands,
        )

    def _reject_unknown_account(self, part: Part, head: Head) -> None:
        req = head.request
        assert req is not None
        if part.state.get(req.account_sid, req.id) is not None:
            self._commit(part, head)  # already answered
            return
        err = {
            "code": "unknown-account",
            "message": f"this dialer places calls for {self.settings.twilio_account_sid} only",
        }
        self._finish(
            part,
            head,
            result="rejected",
            call_sid=None,
            sent_at=None,
            error=err,
            attempts=0,
            dead_letter="unknown-account",
        )

    def _malformed(self, part: Part, head: Head) -> None:
        raw = head.raw
        obj = lg.decode(raw) if isinstance(raw, bytes) else None
        log.warning("malformed request", extra={"offset": head.offset, "problem": head.problem})
        err = {"code": "invalid-request", "message": head.problem or "malformed"}
        base: dict[str, Any]
        if isinstance(obj, dict):
            base = dict(obj)
        else:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None
            base = {"raw": text}
        self._dead_letter(part, head, base, err, "malformed")
        rid, acct = base.get("id"), base.get("account_sid")
        if isinstance(rid, str) and isinstance(acct, str) and part.state.get(acct, rid) is None:
            self._publish_outcome(
                part,
                lg.outcome_record(
                    rid,
                    acct,
                    result="rejected",
                    call_sid=None,
                    sent_at=None,
                    error=err,
                    attempts=0,
                ),
            )
        self._commit(part, head)

    def _finish(
        self,
        part: Part,
        head: Head,
        *,
        result: str,
        call_sid: str | None,
        sent_at: float | None,
        error: dict[str, Any] | None,
        attempts: int,
        dead_letter: str | None = None,
        **extra: Any,
    ) -> None:
        req = head.request
        assert req is not None
        if dead_letter is not None:
            self._dead_letter(part, head, req.to_dict(), error, dead_letter)
        if head.answered_at is not None:
            extra.setdefault("answered_at", lg.iso(head.answered_at))
        out = lg.outcome_record(
            req.id,
            req.account_sid,
            result=result,
            call_sid=call_sid,
            sent_at=sent_at,
            error=error,
            attempts=attempts,
            **extra,
        )
        self._publish_outcome(part, out)
        self._commit(part, head)

    def _publish_outcome(self, part: Part, out: dict[str, Any]) -> None:
        producer = self.producer
        assert producer is not None
        self._kafka(
            lambda: producer.send(
                self.t_outcomes,
                lg.encode(out),
                key=out["account_sid"].encode(),
                partition=part.tp.partition,
            ).get(timeout=15)
        )
        part.state.apply_outcome(out)
        self.metrics.outcomes.labels(out["result"]).inc()

    def _dead_letter(
        self,
        part: Part,
        head: Head,
        base: dict[str, Any],
        error: dict[str, Any] | None,
        reason: str,
    ) -> None:
        producer = self.producer
        assert producer is not None
        rec = {
            **base,
            "reason": {"kind": reason, **(error or {})},
            "dead_lettered_at": utc_now_iso(),
            "source": {
                "topic": self.t_requests,
                "partition": part.tp.partition,
                "offset": head.offset,
            },
        }
        key = head.key if isinstance(head.key, bytes) else None
        raw = head.raw if isinstance(head.raw, bytes) else None
        self._kafka(
            lambda: producer.send(
                self.t_dead, dead_letter_value(rec, raw), key=key, partition=part.tp.partition
            ).get(timeout=15)
        )
        self.metrics.dead_letters.labels(reason).inc()

    def _commit(self, part: Part, head: Head) -> None:
        assert self.consumer is not None
        part.head = None
        try:
            self.consumer.commit({part.tp: OffsetAndMetadata(head.offset + 1, "", -1)})
        except Exception as e:  # the partition moved on; the ledger covers the redelivery
            log.warning(
                "commit failed",
                extra={"partition": part.tp.partition, "offset": head.offset + 1, "error": str(e)},
            )

    # -- rebalance listener (runs inside poll) -------------------------------------------
    def _on_event(self, kind: str, tps: Any) -> None:
        nums = {tp.partition for tp in tps if tp.topic == self.t_requests}
        with self._events_lock:
            self._events.append((kind, nums))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, dialer: Dialer) -> None:
        self.dialer = dialer

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.dialer._on_event("revoked", revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.dialer._on_event("assigned", assigned)


def _owner(raw: Any) -> str | None:
    obj = lg.decode(raw) if isinstance(raw, bytes) else None
    if isinstance(obj, dict) and isinstance(obj.get("owner"), str):
        return str(obj["owner"])
    return None
