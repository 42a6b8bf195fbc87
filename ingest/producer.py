"""The kafka-python side of the publisher: completing asyncio futures from the producer's
I/O thread, handing records over once per event-loop iteration, and closing a producer
that may be stuck on a dead broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from kafka.errors import KafkaTimeoutError

from ingest.metrics import IngestMetrics
from ingest.producer_port import Producer

log = logging.getLogger("callstream.ingest")


class Bridge:
    """Completes asyncio futures from kafka-python's I/O thread.

    The I/O thread appends to a deque and wakes the loop at most once per burst, instead of
    one ``call_soon_threadsafe`` (a self-pipe write) per record.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, metrics: IngestMetrics, gate: Any = None
    ) -> None:
        self._loop = loop
        # callstream.archive_gate.ArchiveGate, or None: acknowledge only archived records
        self._gate = gate
        self._done: deque[tuple[asyncio.Future[None], float, BaseException | None]] = deque()
        self._scheduled = False
        self._observe = metrics.produce_latency.observe

    def watch(self, kfut: Any) -> asyncio.Future[None]:
        afut: asyncio.Future[None] = self._loop.create_future()
        self.link(kfut, afut, time.perf_counter())
        return afut

    def link(self, kfut: Any, afut: asyncio.Future[None], t0: float) -> None:
        if self._gate is not None:
            kfut = self._gate.chain(kfut)
        kfut.add_callback(self._ok, afut, t0)
        kfut.add_errback(self._err, afut, t0)

    def _ok(self, afut: asyncio.Future[None], t0: float, _meta: Any) -> None:
        self._push((afut, t0, None))

    def _err(self, afut: asyncio.Future[None], t0: float, exc: BaseException) -> None:
        self._push((afut, t0, exc))

    def _push(self, item: tuple[asyncio.Future[None], float, BaseException | None]) -> None:
        self._done.append(item)
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        self._scheduled = False
        done = self._done
        now = time.perf_counter()
        observe = self._observe
        while done:
            afut, t0, exc = done.popleft()
            if afut.done():
                continue
            if exc is None:
                observe(now - t0)
                afut.set_result(None)
            else:
                afut.set_exception(exc)


class Outbox:
    """Hands records to the producer once per event-loop iteration.

    kafka-python wakes its I/O thread (a socket write, then a GIL hand-over) for every
    record that opens a new batch, which under load is most of them. Records that arrive in
    the same loop iteration are sent together with those wake-ups held back, and the I/O
    thread is woken once for the lot.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, bridge: Bridge) -> None:
        self._loop = loop
        self._bridge = bridge
        self._items: list[tuple[Producer, str, bytes, bytes, asyncio.Future[None], float]] = []
        self._scheduled = False

    def send(
        self, producer: Producer, topic: str, key: bytes, value: bytes
    ) -> asyncio.Future[None]:
        afut: asyncio.Future[None] = self._loop.create_future()
        self._items.append((producer, topic, key, value, afut, time.perf_counter()))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return afut

    def _flush(self) -> None:
        self._scheduled = False
        items, self._items = self._items, []
        held: dict[int, _HeldWakeup] = {}
        try:
            for producer, topic, key, value, afut, t0 in items:
                if afut.done():
                    continue
                sender = getattr(producer, "_sender", None)
                if sender is not None and id(sender) not in held:
                    held[id(sender)] = _HeldWakeup(sender)
                try:
                    kfut = producer.send(topic, value=value, key=key)
                except Exception as e:
                    afut.set_exception(e)
                    continue
                self._bridge.link(kfut, afut, t0)
        finally:
            for h in held.values():
                h.release()


class _HeldWakeup:
    """Holds back a sender's wake-ups during one hand-over, then wakes it once, and only
    if ``send`` asked for it at least once: kafka-python asks when a record opens a new
    batch or fills one; a record appended to a batch the sender already knows about needs
    no wake-up (its linger timer is running). Each wake-up is a socket write and, more
    costly, a hand-over of the GIL to the I/O thread (measured: 9 % of the event loop's
    samples under wrk when every hand-over woke it)."""

    def __init__(self, sender: Any) -> None:
        self.sender = sender
        self.asked = False
        sender.wakeup = self._ask  # an instance attribute hides the method

    def _ask(self) -> None:
        self.asked = True

    def release(self) -> None:
        del self.sender.wakeup
        if self.asked:
            self.sender.wakeup()


def expire(afut: asyncio.Future[None]) -> None:
    if not afut.done():
        afut.set_exception(TimeoutError("no acknowledgement from Kafka in time"))


def send_one(producer: Producer, topic: str, key: bytes, value: bytes) -> Any:
    return producer.send(topic, value=value, key=key)


async def send_rows(
    producer: Producer,
    bridge: Bridge,
    rows: Sequence[tuple[int, str, bytes | None, bytes]],
    timeout_s: float,
) -> list[BaseException | None]:
    """Send spooled ``rows``; for each, None once acknowledged, else what went wrong (one
    not acknowledged within ``timeout_s`` gets a TimeoutError). One row's failure does not
    hide the others' results: the drain tells a row Kafka refuses from Kafka being down."""
    loop = asyncio.get_running_loop()
    futs: list[asyncio.Future[None]] = []
    for _, t, k, v in rows:
        try:
            futs.append(bridge.watch(producer.send(t, value=v, key=k)))
        except Exception as e:  # send() refuses some records at once (size, type)
            failed: asyncio.Future[None] = loop.create_future()
            failed.set_exception(e)
            futs.append(failed)
    await asyncio.wait(futs, timeout=timeout_s)
    out: list[BaseException | None] = []
    for f in futs:
        if f.done():
            out.append(f.exception())
        else:
            f.cancel()
            out.append(TimeoutError("no acknowledgement from Kafka in time"))
    return out


def close_producer(producer: Producer, timeout: float) -> None:
    """Close, failing what is still unsent after ``timeout``.

    kafka-python's ``close`` flushes first and, when the flush times out, raises before it
    stops the I/O thread (which would then retry a dead broker for ever): stop it then.
    """
    try:
        producer.close(timeout=timeout)
        return
    except KafkaTimeoutError:
        pass
    except Exception as e:
        log.info("producer close failed", extra={"reason": reason(e)})
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()  # aborts the unsent batches: their futures fail
        sender.join(5)
    try:
        producer.close(timeout=0)
    except Exception as e:
        log.info("producer close failed", extra={"reason": reason(e)})


def reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
