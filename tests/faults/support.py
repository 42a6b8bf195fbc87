"""Ledgers, load and checks shared by the fault-injection scenarios.

Every scenario drives the real processes (``tests/support/pipeline.py``) with two kinds of
traffic and keeps a ledger of both:

* direct signed posts (:class:`DirectLoad`): synthetic calls whose callbacks are posted out
  of order, some twice, each post recorded with the HTTP status it got;
* calls created on the emulator (:class:`EmulatorLoad`) with chaos on (duplicates,
  reordering, latency); the emulator's ``/emulator/callbacks`` log says which copies were
  answered 2xx.

:func:`verify` then checks the promise: every acknowledged callback is in the topic and in
``call_events``; ``calls`` equals both an independent fold of the topic (the status rule of
the contract) and ``callstream rebuild`` of the same topic (a clean run); calls the
emulator finished agree with the emulator's own view; nothing is duplicated in the tables;
the database passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from kafka import KafkaConsumer, TopicPartition
from twilio.request_validator import RequestValidator

from callstream import kafka_clients, topics
from callstream.settings import Settings
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until
from tests.support.pipeline import CLI, Pipeline

TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
Key = tuple[str, int]  # (CallSid, SequenceNumber): one callback, whatever its copies

# The emulator's chaos for every scenario: duplicates, reordering and delivery latency.
CHAOS_ARGS = ["--chaos-duplicate", "0.2", "--chaos-reorder", "0.3", "--chaos-latency", "0.02"]

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REPORT: list[dict[str, Any]] = []  # one entry per scenario, printed by conftest.py
OPEN_WATCHERS: list[TopicWatcher] = []  # closed by conftest.py after each test


def make_pipeline(
    tmp: Path, *, emulator_cps: str | None = "50", seed: int = 7, **env: str
) -> Pipeline:
    """A pipeline whose emulator runs calls 20x faster than real time, chaos on."""
    p = Pipeline(tmp, **env)
    p["emulator"].argv += ["--speed", "20", "--seed", str(seed), *CHAOS_ARGS]
    if emulator_cps is not None:
        p["emulator"].argv += ["--cps", emulator_cps]
    return p


def settings_of(p: Pipeline) -> Settings:
    return Settings.from_env(env=p.env)


# -- the ledger of direct posts ----------------------------------------------------------
@dataclass
class Post:
    key: Key
    status: str
    sent: float  # wall clock when the request left
    done: float  # wall clock when the answer (or the error) came
    code: int | None  # HTTP status; None when no answer came (refused, reset, timeout)


class Ledger:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.lock = threading.Lock()

    def add(self, post: Post) -> None:
        with self.lock:
            self.posts.append(post)

    def snapshot(self) -> list[Post]:
        with self.lock:
            return list(self.posts)

    def acked(self, since: float = 0.0) -> set[Key]:
        """Callbacks answered 204 by a request sent after ``since`` (wall clock)."""
        return {p.key for p in self.snapshot() if p.code == 204 and p.sent >= since}

    def count_acked(self) -> int:
        return sum(1 for p in self.snapshot() if p.code == 204)


def _rfc2822(t: datetime) -> str:
    return format_datetime(t, usegmt=True)


@dataclass
class SynthCall:
    sid: str
    events: list[dict[str, str]]
    todo: list[int]
    posted: list[int] = field(default_factory=list)


def synth_call(rnd: random.Random, base: datetime) -> SynthCall:
    """One outbound call's callbacks as Twilio would send them (all four events)."""
    sid = "CA" + uuid.UUID(int=rnd.getrandbits(128)).hex
    end = rnd.choices(["completed", "busy", "no-answer", "failed"], [6, 2, 1, 1])[0]
    steps = ["initiated", "ringing"] + (
        ["in-progress", "completed"] if end == "completed" else [end]
    )
    to = f"+1555{rnd.randrange(10**7):07d}"
    events = []
    for seq, status in enumerate(steps):
        ev = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "Direction": "outbound-api",
            "From": "+15005550006",
            "To": to,
            "SequenceNumber": str(seq),
            "Timestamp": _rfc2822(base + timedelta(seconds=seq)),
        }
        if status in TERMINAL:
            talk = rnd.randint(1, 90) if status == "completed" else 0
            ev.update(
                CallDuration=str(talk),
                Duration=str((talk + 59) // 60),
                SipResponseCode="200" if status == "completed" else "486",
            )
        events.append(ev)
    order = list(range(len(events)))
    rnd.shuffle(order)
    return SynthCall(sid, events, order)


class DirectLoad:
    """Signed callback posts to ingest from a few threads at about ``rate`` per second.

    Calls are interleaved (``open_calls`` at a time), each call's callbacks are posted in a
    random order, and ``dup`` of the posts repeat a callback already posted (same body and
    signature, as Twilio's retries and duplicates do).
    """

    def __init__(
        self,
        p: Pipeline,
        ledger: Ledger,
        *,
        rate: float = 120,
        threads: int = 6,
        open_calls: int = 25,
        dup: float = 0.15,
        seed: int = 1,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = p.env["CALLSTREAM_PUBLIC_URL"].rstrip("/") + "/twilio/status"
        self.target = p["ingest"].url + "/twilio/status"
        self.ledger = ledger
        self.interval = 1.0 / rate
        self.rnd = random.Random(seed)
        self.base = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        self.open: list[SynthCall] = []
        self.open_calls = open_calls
        self.dup = dup
        self.timeout_s = timeout_s
        self.validator = RequestValidator(AUTH_TOKEN)
        self.lock = threading.Lock()
        self.next_slot = time.monotonic()
        self.stop_event = threading.Event()
        self.calls: dict[str, SynthCall] = {}
        self.threads = [
            threading.Thread(target=self._worker, daemon=True, name=f"load-{i}")
            for i in range(threads)
        ]

    def __enter__(self) -> DirectLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=self.timeout_s + 5)

    def _next(self) -> tuple[dict[str, str], float]:
        """The next callback to post and the monotonic time it is due (under the lock)."""
        with self.lock:
            while len(self.open) < self.open_calls:
                c = synth_call(self.rnd, self.base + timedelta(minutes=len(self.calls)))
                self.open.append(c)
                self.calls[c.sid] = c
            c = self.rnd.choice(self.open)
            if c.posted and self.rnd.random() < self.dup:
                idx = self.rnd.choice(c.posted)
            else:
                idx = c.todo.pop()
                c.posted.append(idx)
                if not c.todo:
                    self.open.remove(c)
            due = self.next_slot = max(self.next_slot + self.interval, time.monotonic())
            return c.events[idx], due

    def _worker(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self.stop_event.is_set():
                params, due = self._next()
                delay = due - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):  # pacing, not a wait for state
                    return
                sig = self.validator.compute_signature(self.url, params)
                sent = time.time()
                try:
                    r = client.post(self.target, data=params, headers={"X-Twilio-Signature": sig})
                    code: int | None = r.status_code
                except httpx.HTTPError:
                    code = None
                self.ledger.add(
                    Post(
                        (params["CallSid"], int(params["SequenceNumber"])),
                        params["CallStatus"],
                        sent,
                        time.time(),
                        code,
                    )
                )


# -- calls on the emulator ----------------------------------------------------------------
class EmulatorLoad:
    """Creates calls on the emulator (REST, like any Twilio client) whose status callbacks
    go to ingest, about ``rate`` per second, from one thread."""

    def __init__(self, p: Pipeline, *, rate: float = 4.0, seed: int = 2) -> None:
        self.emu = p["emulator"].url
        self.callback = p.env["CALLSTREAM_PUBLIC_URL"].rstrip("/") + "/twilio/status"
        self.interval = 1.0 / rate
        self.rnd = random.Random(seed)
        self.sids: list[str] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="emulator-load")

    def __enter__(self) -> EmulatorLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=15)

    def _run(self) -> None:
        path = f"{self.emu}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
        with httpx.Client(timeout=10, auth=(ACCOUNT_SID, AUTH_TOKEN)) as client:
            while not self.stop_event.is_set():
                data = [
                    ("To", f"+1555{self.rnd.randrange(10**7):07d}"),
                    ("From", "+15005550006"),
                    ("Twiml", "<Response><Say>fault injection</Say></Response>"),
                    ("StatusCallback", self.callback),
                    ("StatusCallbackMethod", "POST"),
                    *[
                        ("StatusCallbackEvent", e)
                        for e in ("initiated", "ringing", "answered", "completed")
                    ],
                ]
                r = client.post(path, content=urlencode(data), headers=FORM)
                if r.status_code == 201:
                    self.sids.append(r.json()["sid"])
                if self.stop_event.wait(self.interval):
                    return


def emulator_callbacks(p: Pipeline) -> list[dict[str, Any]]:
    r = httpx.get(p["emulator"].url + "/emulator/callbacks", timeout=10)
    r.raise_for_status()
    return list(r.json())


def emulator_call(p: Pipeline, sid: str) -> dict[str, Any]:
    r = httpx.get(
        f"{p['emulator'].url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=10,
    )
    r.raise_for_status()
    return dict(r.json())


def wait_emulator_settled(p: Pipeline, sids: Iterable[str], timeout: float = 30) -> None:
    """Every call ended on the emulator and every callback it fired has an outcome."""
    wanted = set(sids)

    def settled() -> bool:
        log = [e for e in emulator_callbacks(p) if e["call_sid"] in wanted]
        if any(e["outcome"] == "pending" for e in log):
            return False
        ended = {e["call_sid"] for e in log if e["call_status"] in TERMINAL}
        return ended >= wanted

    wait_until(settled, timeout=timeout, interval=0.2, what="emulator calls ended, callbacks done")


@dataclass
class EmuTally:
    attempted: int  # copies delivered or tried
    acked: int  # copies answered 2xx (ingest answers 204)
    acked_keys: set[Key]
    terminal_acked: set[str]  # calls whose terminal callback was acknowledged


def emulator_tally(p: Pipeline, sids: Iterable[str], since: float = 0.0) -> EmuTally:
    """What the emulator sent to ingest for ``sids`` (callbacks fired after ``since``)."""
    wanted = set(sids)
    attempted = acked = 0
    keys: set[Key] = set()
    terminal: set[str] = set()
    for e in emulator_callbacks(p):
        if e["call_sid"] not in wanted or e["fired_at"] < since:
            continue
        attempted += len(e["results"])
        n = e["results"].count("delivered")
        acked += n
        if n:
            keys.add((e["call_sid"], int(e["sequence_number"])))
            if e["call_status"] in TERMINAL:
                terminal.add(e["call_sid"])
    return EmuTally(attempted, acked, keys, terminal)


# -- the topic ------------------------------------------------------------------------------
@dataclass
class TopicRecord:
    partition: int
    offset: int
    key: Key | None
    status: str | None


class TopicWatcher:
    """Reads ``twilio.call-status`` from the beginning and keeps every record read."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic(topics.CALL_STATUS)
        self.consumer: KafkaConsumer = kafka_clients.make_consumer(
            settings,
            kafka_clients.TANSU,
            client_id="faults-reader",
            fetch_max_wait_ms=50,
            auto_offset_reset="earliest",
        )
        parts = wait_until(
            lambda: self.consumer.partitions_for_topic(self.topic),
            timeout=20,
            what=f"topic {self.topic}",
        )
        self.tps = [TopicPartition(self.topic, n) for n in sorted(parts)]
        self.consumer.assign(self.tps)
        self.consumer.seek_to_beginning(*self.tps)
        self.records: list[TopicRecord] = []
        OPEN_WATCHERS.append(self)

    def close(self) -> None:
        if self in OPEN_WATCHERS:
            OPEN_WATCHERS.remove(self)
            self.consumer.close()

    def poll(self) -> list[TopicRecord]:
        for _ in range(50):
            batch = self.consumer.poll(timeout_ms=100, max_records=5000)
            if not batch:
                break
            for recs in batch.values():
                for r in recs:
                    self.records.append(TopicRecord(r.partition, r.offset, *_identify(r.value)))
        return self.records

    def keys(self) -> set[Key]:
        return {r.key for r in self.poll() if r.key is not None}

    def wait_for(self, keys: set[Key], timeout: float = 30) -> set[Key]:
        """Wait until every key is in the topic; return those still missing on timeout."""
        deadline = time.monotonic() + timeout
        missing = keys - self.keys()
        while missing and time.monotonic() < deadline:
            missing = keys - self.keys()
        return missing

    def ends(self) -> dict[int, int]:
        """Next offset per partition, from the broker (high watermarks)."""
        end = self.consumer.end_offsets(self.tps)
        return {tp.partition: int(o) for tp, o in end.items()}


def _identify(value: bytes | None) -> tuple[Key | None, str | None]:
    try:
        env = json.loads(value or b"")
        params = {k: v for k, v in env["params"]}
        return (params["CallSid"], int(params["SequenceNumber"])), params.get("CallStatus")
    except (ValueError, KeyError, TypeError):
        return None, None


def expected_calls(records: list[TopicRecord]) -> dict[str, tuple[str, int, int]]:
    """The contract's status rule, computed independently from the log: per CallSid,
    (status, events_count, last_sequence_number)."""
    first: dict[Key, TopicRecord] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        if r.key is not None and r.key not in first:
            first[r.key] = r
    by_call: dict[str, list[TopicRecord]] = {}
    for r in sorted(first.values(), key=lambda r: (r.partition, r.offset)):
        assert r.key is not None
        by_call.setdefault(r.key[0], []).append(r)
    out = {}
    for sid, evs in by_call.items():
        terminal = [e for e in evs if e.status in TERMINAL]
        status = terminal[0] if terminal else max(evs, key=lambda e: e.key[1])  # type: ignore[index]
        out[sid] = (str(status.status), len(evs), max(e.key[1] for e in evs))  # type: ignore[index]
    return out


# -- the projector's database -------------------------------------------------------------
@contextlib.contextmanager
def ro(db: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection, closed on exit (``with sqlite3.connect()`` alone does not
    close it, and an open reader keeps the WAL index open for writing)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def applied(db: Path) -> dict[int, int]:
    try:
        with ro(db) as c:
            return {
                int(p): int(o)
                for p, o in c.execute("SELECT partition, next_offset FROM projector_offsets")
            }
    except sqlite3.Error:
        return {}


def projector_lag(p: Pipeline, name: str = "projector") -> float | None:
    try:
        text = httpx.get(p[name].url + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    m = re.search(r"^callstream_projector_total_lag_records (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def wait_projector_caught_up(
    p: Pipeline, watcher: TopicWatcher, db: Path, timeout: float = 60, name: str = "projector"
) -> None:
    """The database has applied every record up to the broker's high watermarks, and the
    projector itself says so (lag metric 0, /readyz 200)."""

    def done() -> bool:
        ends = {k: v for k, v in watcher.ends().items() if v}
        if any(applied(db).get(k, 0) < v for k, v in ends.items()):
            return False
        if projector_lag(p, name) != 0:
            return False
        return httpx.get(p[name].url + "/readyz", timeout=5).status_code == 200

    wait_until(done, timeout=timeout, interval=0.1, what="projector caught up")


def wait_spool_empty(p: Pipeline, timeout: float = 60) -> None:
    def empty() -> bool:
        try:
            text = httpx.get(p["ingest"].url + "/metrics", timeout=5).text
        except httpx.HTTPError:
            return False
        m = re.search(r"^callstream_ingest_spool_depth (\S+)$", text, re.M)
        return m is not None and float(m.group(1)) == 0

    wait_until(empty, timeout=timeout, interval=0.1, what="ingest spool empty")


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    from projector.store import dump as dump_table

    with ro(db) as c:
        return {
            t: dump_table(c, t)
            for t in ("calls", "call_events", "rejected_events", "projector_offsets")
        }


def integrity(db: Path) -> str:
    with ro(db) as c:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])


def rebuild(p: Pipeline, new: Path) -> dict[str, list[tuple[Any, ...]]]:
    """``callstream rebuild --db NEW`` of the same topic: what a clean run gives."""
    r = subprocess.run(
        [*CLI, "rebuild", "--db", str(new)],
        env=p.env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    return dump(new)


# -- the verdict --------------------------------------------------------------------------
@dataclass
class Figures:
    scenario: str
    sent: int
    acked: int
    lost: int
    duplicated: int
    recovery_s: float
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.extra.items())
        return (
            f"[faults] {self.scenario}: callbacks sent={self.sent} acknowledged={self.acked} "
            f"lost={self.lost} duplicated={self.duplicated} "
            f"recovery={self.recovery_s:.2f}s{extra}"
        )


def verify(
    p: Pipeline,
    tmp: Path,
    *,
    acked: set[Key],
    watcher: TopicWatcher,
    emulator_sids: Iterable[str] = (),
    terminal_acked: set[str] | None = None,
    db: Path | None = None,
    name: str = "projector",
) -> tuple[int, int]:
    """Check the projected state against the ledger and a clean run; return
    (lost, duplicated). Fails the test on any discrepancy."""
    db = db or Path(p.env["CALLSTREAM_DB"])
    missing_topic = watcher.wait_for(acked, timeout=30)
    assert not missing_topic, (
        f"{len(missing_topic)} acknowledged callbacks not in the topic: {sorted(missing_topic)[:5]}"
    )
    wait_projector_caught_up(p, watcher, db, name=name)
    watcher.poll()
    live = dump(db)
    event_keys = [(r[0], r[1]) for r in live["call_events"]]
    lost = len(acked - set(event_keys))
    assert lost == 0, f"{lost} acknowledged callbacks not in call_events"
    duplicated = len(event_keys) - len(set(event_keys))
    expected = expected_calls(watcher.records)
    cols = ("call_sid", "status", "events_count", "last_sequence_number")
    with ro(db) as c:
        rows = {r[0]: tuple(r[1:]) for r in c.execute(f"SELECT {', '.join(cols)} FROM calls")}
    duplicated += sum(max(0, rows[s][1] - expected[s][1]) for s in rows if s in expected)
    assert duplicated == 0, "callbacks counted twice in the tables"
    wrong = {s: (rows.get(s), e) for s, e in expected.items() if rows.get(s) != e}
    assert not wrong, (
        f"{len(wrong)} calls differ from the status rule over the log: {list(wrong.items())[:3]}"
    )
    assert set(rows) == set(expected)
    assert integrity(db) == "ok"
    clean = rebuild(p, tmp / f"clean-{uuid.uuid4().hex[:6]}.db")
    for table, want in clean.items():
        assert live[table] == want, f"{table} differs from a clean rebuild of the topic"
    for sid in (terminal_acked or set()) & set(emulator_sids):
        emu = emulator_call(p, sid)["status"]
        assert rows[sid][0] == emu, f"{sid}: projected {rows[sid][0]}, emulator says {emu}"
    return lost, duplicated


def record(fig: Figures) -> None:
    REPORT.append({**fig.__dict__})
    print(fig.line(), flush=True)


def verify_after_load(
    p: Pipeline, tmp: Path, ledger: Ledger, emu: EmulatorLoad, watcher: TopicWatcher
) -> tuple[EmuTally, int, int]:
    """Once the load has stopped: wait for the emulator's calls to settle, then check the
    projected state against every acknowledged callback (direct posts and the emulator's).
    Return (the emulator's tally, lost, duplicated)."""
    wait_emulator_settled(p, emu.sids)
    tally = emulator_tally(p, emu.sids)
    lost, dup = verify(
        p,
        tmp,
        acked=ledger.acked() | tally.acked_keys,
        watcher=watcher,
        emulator_sids=emu.sids,
        terminal_acked=tally.terminal_acked,
    )
    return tally, lost, dup
