"""The reconciler loop: read the log into the tracks, ask Twilio about the calls that are
due, append what it says.

One thread does everything. Each poll's records change the tracks and the stored offsets in
one SQLite transaction (:mod:`reconciler.state`). An ask goes: wait for the pace, fetch the
call, append the snapshot and wait for Kafka's acknowledgement, then record the answer.
A crash between the append and the record asks again and appends the same snapshot again,
which the projector counts once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from callstream import envelope, timefmt
from callstream.callstatus import TERMINAL
from callstream.kafka_clients import produce_and_wait
from callstream.settings import Settings
from callstream.topics import CALL_STATUS, DIALER_OUTCOMES
from reconciler import policy as pl
from reconciler.metrics import ReconcilerMetrics
from reconciler.records import created_of, seen_of
from reconciler.snapshot import API_VERSION, snapshot_params
from reconciler.state import State
from reconciler.twilio_rest import CallsApi, Fetched

log = logging.getLogger("callstream.reconciler")

POLL_MS = 200
ASKS_PER_ROUND = 20  # then read the log again, so reading never falls far behind
PRODUCE_TIMEOUT_S = 15.0
BUSY_CONCURRENCY = 50  # Twilio-Concurrent-Requests at which the reconciler pauses a second


class KafkaClients(Protocol):
    def consumer(self, client_id: str) -> Any: ...

    def producer(self, client_id: str) -> Any: ...


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        api: CallsApi,
        clients: KafkaClients,
        state: State,
        policy: pl.Policy,
        *,
        rate: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.api = api
        self.clients = clients
        self.state = state
        self.policy = policy
        self.pace = pl.Pace(rate)
        self.clock = clock
        self.metrics = ReconcilerMetrics()
        self.status_topic = settings.topic(CALL_STATUS)
        self.outcomes_topic = settings.topic(DIALER_OUTCOMES)
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.failed: str | None = None
        self.producer: Any = None

    # -- lifecycle -----------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def status(self) -> tuple[bool, dict[str, Any]]:
        return self.ready.is_set(), {"calls": self.state.counts()} if self.ready.is_set() else {}

    def run(self) -> None:
        consumer = self.clients.consumer("callstream-reconciler")
        self.producer = self.clients.producer("callstream-reconciler")
        try:
            self._assign(consumer)
            self.ready.set()
            log.info("reconciler ready", extra={"after_s": self.policy.after})
            while not self._stop.is_set():
                batch = consumer.poll(timeout_ms=POLL_MS, max_records=500)
                if batch:
                    self.apply(batch)
                self.ask_due()
        except Exception as e:
            self.failed = f"{type(e).__name__}: {e}"
            log.exception("reconciler stopped")
            raise
        finally:
            consumer.close()
            self.producer.close(timeout=5)

    def _assign(self, consumer: Any) -> None:
        from kafka import TopicPartition

        parts: list[Any] = []
        for topic in (self.status_topic, self.outcomes_topic):
            found = None
            deadline = time.monotonic() + 30
            while not found and time.monotonic() < deadline and not self._stop.is_set():
                found = consumer.partitions_for_topic(topic)
                if not found:
                    self._stop.wait(0.2)
            if not found:
                raise RuntimeError(f"topic {topic} not found (run 'callstream topics')")
            parts += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(parts)
        stored = self.state.offsets()
        for tp in parts:
            at = stored.get((tp.topic, tp.partition))
            if at is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, at)

    # -- reading the log -----------------------------------------------------------------
    def apply(self, batch: dict[Any, list[Any]]) -> None:
        """One poll's records into the tracks, and the offsets after them, together."""
        sids: list[str] = []
        read: list[tuple[str, Any]] = []
        offsets: dict[tuple[str, int], int] = {}
        for tp, records in batch.items():
            for r in records:
                at = r.timestamp / 1000.0 if r.timestamp and r.timestamp > 0 else self.clock()
                item = (
                    seen_of(r.value, at)
                    if tp.topic == self.status_topic
                    else created_of(r.value, at)
                )
                if item is not None:
                    sids.append(item.call_sid)
                    read.append((tp.topic, item))
                offsets[(tp.topic, tp.partition)] = r.offset + 1
                self.metrics.records.inc()
        tracks = self.state.get_many(sids)
        changed: dict[str, pl.Track] = {}
        for topic, item in read:
            cur = tracks.get(item.call_sid)
            if topic == self.status_topic:
                new = pl.on_event(cur, item, self.policy)
            else:
                new = pl.on_created(cur, item.call_sid, item.account_sid, item.at, self.policy)
            if new != cur:
                tracks[item.call_sid] = changed[item.call_sid] = new
        self.state.save(changed.values(), offsets)

    # -- asking Twilio -------------------------------------------------------------------
    def ask_due(self) -> None:
        now = self.clock()
        due = self.state.due(now, ASKS_PER_ROUND)
        self.metrics.lag.set(
            max(0.0, now - due[0].next_ask_at) if due and due[0].next_ask_at else 0.0
        )
        for track in due:
            wait = self.pace.wait(self.clock())
            if wait > POLL_MS / 1000:
                return  # read the log meanwhile
            if self._stop.wait(wait):
                return
            self.ask(track)
        self.metrics.pending.set(self.state.counts()["pending"])

    def ask(self, track: pl.Track) -> None:
        account = track.account_sid or self.settings.twilio_account_sid
        if account is None:
            self._record(track, pl.Failed("the call's account is not known"))
            return
        self.pace.sent(self.clock())
        fetched = self.api.fetch(account, track.call_sid)
        answer = fetched.answer
        self._watch(fetched)
        if (
            isinstance(answer, pl.Found)
            and fetched.call is not None
            and pl.worth_appending(track, answer.status)
        ):
            try:
                self._append(account, fetched)
            except Exception as e:  # Kafka down: ask again later, record nothing
                log.warning(
                    "cannot append a snapshot; asking again later",
                    extra={"call_sid": track.call_sid, "error": f"{type(e).__name__}: {e}"},
                )
                self.pace.hold(self.clock(), 1.0)
                return
        self._record(track, answer)

    def _watch(self, fetched: Fetched) -> None:
        answer = fetched.answer
        if fetched.concurrent is not None:
            self.metrics.concurrent.set(fetched.concurrent)
            if fetched.concurrent >= BUSY_CONCURRENCY:
                self.pace.hold(self.clock(), 1.0)
        if isinstance(answer, pl.Limited):
            wait = self.policy.retry_after(answer.retry_after)
            self.pace.hold(self.clock(), wait)
            log.warning("Twilio answered 429; waiting", extra={"retry_after_s": wait})
            self.metrics.ask["rate-limited"].inc()
        elif isinstance(answer, pl.NotFound):
            self.metrics.ask["not-found"].inc()
        elif isinstance(answer, pl.Failed):
            self.metrics.ask["failed"].inc()
            log.warning("REST request failed; backing off", extra={"reason": answer.reason})
        else:
            terminal = answer.status in TERMINAL
            self.metrics.ask["terminal" if terminal else "live"].inc()

    def _append(self, account: str, fetched: Fetched) -> None:
        call = fetched.call
        assert call is not None
        params = [list(p) for p in snapshot_params(call)]
        url = (
            f"{self.settings.twilio_api_url.rstrip('/')}/{API_VERSION}/Accounts/{account}"
            f"/Calls/{call.sid}.json"
        )
        value = envelope.encode(
            timefmt.now_iso(), "GET", url, params, f"{call.sid}:{call.status}:reconciler"
        )
        produce_and_wait(
            self.producer,
            self.status_topic,
            value,
            call.sid.encode(),
            timeout_s=PRODUCE_TIMEOUT_S,
        )
        self.metrics.snapshots.inc()
        log.info("snapshot appended", extra={"call_sid": call.sid, "status": call.status})

    def _record(self, track: pl.Track, answer: pl.Answer) -> None:
        # the log may have moved the track since it was read as due: apply to the latest
        current = self.state.get(track.call_sid) or track
        new = pl.on_answer(current, answer, self.clock(), self.policy)
        if new.gave_up and not current.gave_up:
            self.metrics.given_up.inc()
            log.warning(
                "giving up on a call",
                extra={"call_sid": new.call_sid, "attempts": new.attempts, "status": new.status},
            )
        if new.gone and not current.gone:
            log.warning("Twilio does not know the call (404)", extra={"call_sid": new.call_sid})
        self.state.save([new])
