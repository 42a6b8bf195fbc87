"""Kafka first, the durable spool behind it: where an accepted callback goes.

* Normal path: ``producer.send`` on the event loop (it only appends to the producer's
  batch; :class:`ingest.producer.Outbox` hands over each loop iteration's records
  together), and the producer's I/O thread reports the acknowledgement back through
  :class:`ingest.producer.Bridge`; nothing waits in a thread, so many callbacks are in
  flight at once and batch together.
* If the acknowledgement does not come within ``ack_timeout_s`` (or the send fails), the
  broker is *known down*: the producer is dropped (an idempotent producer does not survive
  a broker that lost its state, so a new one is made later), the callback is committed to
  the spool, and every later callback goes straight to the spool without waiting on Kafka.
* While the spool holds anything, new callbacks queue behind it (so one call's callbacks
  reach the topic in the order they were answered). A background task drains it, oldest
  first, once a new producer can reach the broker and the topic exists, then switches back
  to the normal path when the spool is empty.
* :class:`Unavailable` (the route answers 503) only when the spool cannot commit either.
* A record the producer can never send is not Kafka being down (``ingest.records``): it is
  refused with :class:`Rejected` before it reaches the producer or the spool when it is
  over ``MAX_RECORD``, and when Kafka refuses it for a reason about the record itself. The
  drain sets such a spooled row aside (``spool_dead``) instead of retrying it for ever.

The duplicate window: a callback whose acknowledgement came later than ``ack_timeout_s``
is in the topic *and* in the spool, so it appears twice; so does a drained batch whose
acknowledgement was lost (or a kill between the acknowledgement and the spool's delete).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from callstream import topics
from callstream.archive_gate import ack_gate
from callstream.settings import Settings
from ingest.metrics import IngestMetrics
from ingest.producer import (
    Bridge,
    Outbox,
    close_producer,
    expire,
    reason,
    send_one,
    send_rows,
)
from ingest.producer_port import Producer, ProducerFactory
from ingest.records import (
    RecordProblem,
    record_problem,
    row_problem,
    size_problem,
)
from ingest.spool import Row, Spool, StoredRow

log = logging.getLogger("callstream.ingest")

PRODUCED = "produced"
SPOOLED = "spooled"


class Unavailable(Exception):
    """Neither Kafka nor the spool could take the record."""


class Rejected(Exception):
    """This record can never be produced (``problem`` says why and what to answer)."""

    def __init__(self, problem: RecordProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class Publisher:
    """``producer_factory`` is the Kafka port (``ingest.producer_port``): the publisher
    asks it for a producer at start and after each time the broker was found down."""

    def __init__(
        self,
        settings: Settings,
        metrics: IngestMetrics,
        producer_factory: ProducerFactory,
        *,
        ack_timeout_s: float = 2.0,
        drain_batch: int = 500,
        worker: int | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker  # this process's index under --workers (/readyz names it)
        self.metrics = metrics
        self.topic = settings.topic(topics.CALL_STATUS)
        self.ack_timeout_s = ack_timeout_s
        self.drain_batch = drain_batch
        self._new_producer = producer_factory
        self.spool: Spool | None = None
        self.producer: Producer | None = None
        self.spooling = False  # broker known down, or the spool is not empty
        self.depth = 0  # records in the spool, committed or being committed
        self.dead = 0  # spooled records set aside (Kafka refused them), as last counted
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._spool_exec = ThreadPoolExecutor(1, thread_name_prefix="ingest-spool")
        self._kafka_exec = ThreadPoolExecutor(2, thread_name_prefix="ingest-kafka")
        self._bridge: Bridge | None = None
        self._outbox: Outbox | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._bridge = Bridge(loop, self.metrics, gate=ack_gate(self.settings))
        self._outbox = Outbox(loop, self._bridge)
        self.spool = await loop.run_in_executor(self._spool_exec, Spool, self.settings.spool)
        self.depth = await loop.run_in_executor(self._spool_exec, self.spool.count)
        self.metrics.spool_depth.set(self.depth)
        await self._count_dead()
        if self.dead:
            log.warning(
                "the spool holds callbacks Kafka refused; see 'callstream spool'",
                extra={"spool_dead": self.dead},
            )
        if self.depth:
            log.warning(
                "spool not empty at start; draining it first", extra={"spool_depth": self.depth}
            )
            self.spooling = True
        else:
            try:
                self.producer = await loop.run_in_executor(self._kafka_exec, self._new_producer)
            except Exception as e:
                log.warning(
                    "kafka unreachable at start; callbacks go to the spool",
                    extra={"reason": reason(e)},
                )
                self.spooling = True
        self._drainer = asyncio.create_task(self._drain_loop(), name="ingest-spool-drain")

    async def close(self, flush_timeout_s: float = 10.0) -> None:
        self._closing = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._drainer
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
        producer, self.producer = self.producer, None
        if producer is not None:
            await loop.run_in_executor(self._kafka_exec, close_producer, producer, flush_timeout_s)
        if self.spool is not None:
            await loop.run_in_executor(self._spool_exec, self.spool.close)
        self._spool_exec.shutdown(wait=True)
        self._kafka_exec.shutdown(wait=True)

    # -- the callback path ------------------------------------------------------------
    async def publish(self, key: bytes, value: bytes, topic: str | None = None) -> str:
        """Make one callback durable; return PRODUCED or SPOOLED, or raise Unavailable
        (nothing can take it now) or Rejected (it can never be produced). ``topic``: the
        callback topic unless given (Event Streams deliveries also write twilio.events)."""
        topic = topic or self.topic
        problem = size_problem(key, value)
        if problem is not None:
            raise Rejected(problem)
        producer = self.producer
        if not self.spooling and producer is not None:
            assert self._outbox is not None and self._loop is not None
            afut = self._outbox.send(producer, topic, key, value)
            timer = self._loop.call_later(self.ack_timeout_s, expire, afut)
            try:
                await afut
                return PRODUCED
            except Exception as e:
                problem = record_problem(e)
                if problem is not None:
                    raise Rejected(problem) from e
                self._kafka_down(e)
            finally:
                timer.cancel()
        await self._spool_append((topic, key, value))
        return SPOOLED

    async def send_direct(self, topic: str, key: bytes, value: bytes, timeout_s: float) -> None:
        """Produce one record and wait for its acknowledgement; no spool (used by /dial).
        ``send`` runs in a thread: the topic's metadata may not be cached yet."""
        producer = self.producer
        if producer is None or self._bridge is None:
            raise Unavailable("Kafka is not reachable")
        loop = asyncio.get_running_loop()
        try:
            kfut = await loop.run_in_executor(
                self._kafka_exec, send_one, producer, topic, key, value
            )
            await asyncio.wait_for(self._bridge.watch(kfut), timeout_s)
        except Exception as e:
            raise Unavailable(reason(e)) from e

    def _kafka_down(self, exc: BaseException) -> None:
        if not self.spooling:
            log.warning(
                "kafka not acknowledging; callbacks go to the spool until it is back",
                extra={"reason": reason(exc)},
            )
            self.spooling = True
        self._drop_producer()
        self._wake.set()

    def _drop_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            # close(0) fails what it still holds, so fewer records reach Kafka late (the
            # duplicate window); in a thread, since close joins the I/O thread
            self._kafka_exec.submit(close_producer, producer, 0)

    # -- the spool ----------------------------------------------------------------------
    async def _spool_append(self, row: Row) -> None:
        assert self._loop is not None
        fut: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((row, fut))
        self.depth += 1
        self.spooling = True
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        try:
            await fut
        except Exception as e:
            raise Unavailable(reason(e)) from e

    async def _write_pending(self) -> None:
        """Group commit: everything queued while the previous commit ran goes in one."""
        assert self._loop is not None and self.spool is not None
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._loop.run_in_executor(
                    self._spool_exec, self.spool.append_many, [r for r, _ in batch]
                )
            except Exception as e:
                log.error("spool commit failed", extra={"reason": reason(e), "records": len(batch)})
                self.depth -= len(batch)
                for _, f in batch:
                    if not f.done():
                        f.set_exception(e)
            else:
                for _, f in batch:
                    if not f.done():
                        f.set_result(None)
            self.metrics.spool_depth.set(self.depth)
            self._wake.set()

    async def _drain_loop(self) -> None:
        assert self._loop is not None and self.spool is not None
        loop = self._loop
        backoff = 0.1
        while not self._closing:
            if not self.spooling:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.producer is None:
                try:
                    self.producer = await loop.run_in_executor(self._kafka_exec, self._new_producer)
                except Exception as e:
                    log.info("kafka still unavailable", extra={"reason": reason(e)})
                    await self._pause(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
            rows = await loop.run_in_executor(self._spool_exec, self.spool.oldest, self.drain_batch)
            if not rows:
                if self.depth == 0:
                    self.spooling = False
                    log.info("spool drained; callbacks go to kafka directly again")
                else:
                    await self._pause(0.005)  # a commit is under way
                continue
            assert self.producer is not None and self._bridge is not None
            failures = await send_rows(
                self.producer, self._bridge, rows, max(10.0, self.ack_timeout_s)
            )
            dead = [
                (row, p.message)
                for row, e in zip(rows, failures, strict=True)
                if e is not None and (p := row_problem(e)) is not None
            ]
            if dead:
                await self._set_aside(dead)
            retry = [e for e in failures if e is not None and row_problem(e) is None]
            if retry:
                log.warning("spool drain failed; retrying", extra={"reason": reason(retry[0])})
                self._drop_producer()
                await self._pause(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            await loop.run_in_executor(self._spool_exec, self.spool.delete_through, rows[-1][0])
            self.depth -= len(rows) - len(dead)
            self.metrics.spool_depth.set(self.depth)
            self.metrics.spool_drained.inc(len(rows) - len(dead))

    async def _set_aside(self, dead: list[tuple[StoredRow, str]]) -> None:
        assert self._loop is not None and self.spool is not None
        await self._loop.run_in_executor(self._spool_exec, self.spool.set_aside, dead)
        for (row_id, topic, key, value), why in dead:
            log.error(
                "spooled callback set aside: Kafka refuses it; see 'callstream spool'",
                extra={
                    "spool_id": row_id,
                    "topic": topic,
                    "key": (key or b"").decode("utf-8", "replace")[:64],
                    "bytes": len(value),
                    "reason": why,
                },
            )
        self.depth -= len(dead)
        self.metrics.spool_set_aside.inc(len(dead))
        await self._count_dead()

    async def _count_dead(self) -> None:
        assert self._loop is not None and self.spool is not None
        try:
            self.dead = await self._loop.run_in_executor(self._spool_exec, self.spool.count_dead)
        except Exception as e:  # a failing disk: keep the last count, /readyz still answers
            log.warning("could not count set-aside rows", extra={"reason": reason(e)})
        self.metrics.spool_dead.set(self.dead)

    async def _pause(self, seconds: float) -> None:
        # a plain sleep: spool commits must not cut a backoff short (they come in floods
        # while the broker is down); close() cancels this task
        await asyncio.sleep(seconds)

    # -- health -------------------------------------------------------------------------
    async def ready(self) -> tuple[bool, dict[str, Any]]:
        kafka_ok = self.producer is not None and not self.spooling
        if self.spool is not None and not self._closing:
            await self._count_dead()  # 'callstream spool' may have retried or dropped some
        detail: dict[str, Any] = {
            "kafka": kafka_ok,
            "spool_depth": self.depth,
            "spool_dead": self.dead,
        }
        if self.worker is not None:
            # a load balancer's probe reached this worker: the one that takes the callbacks
            # sent on that connection
            detail["worker"] = self.worker
        if self.dead:
            detail["warning"] = (
                f"{self.dead} spooled callback(s) set aside: Kafka refuses them; "
                "see 'callstream spool'"
            )
        if kafka_ok:
            return True, detail
        if self.spool is None:
            return False, detail
        loop = asyncio.get_running_loop()
        writable = await loop.run_in_executor(self._spool_exec, self.spool.writable)
        detail["spool_writable"] = writable
        return writable, detail
