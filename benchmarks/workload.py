"""One workload model for the benchmarks: calls that overlap in time, as real traffic does.

Pure (no I/O): it yields status callbacks in the order Twilio would deliver them, each as
the ``[name, value]`` parameter list Twilio sends (the emulator's set: see
``emulator/callbackparams.py``), and the benchmarks encode, sign or produce them.

The model, per call (``Shape`` holds every number):

* arrivals are a Poisson process at ``rate`` calls/s (exponential gaps);
* an outcome is drawn: ``busy``, ``no-answer``, ``failed`` by their shares, else answered;
* ring time is lognormal with median ``ring_median_s`` (6 s) and shape ``ring_sigma``;
  a call still ringing at ``no_answer_timeout_s`` (30 s) ends ``no-answer``;
* talk time is exponential with mean ``talk_mean_s`` (90 s);
* callbacks follow the emulator's lifecycle: an answered call sends four (``initiated``,
  ``ringing`` ``ringing_after_s`` later, ``in-progress``, ``completed``), a no-answer
  three, busy and failed two (``initiated`` and the terminal status, after the ring time);
* a share ``dial_share`` of answered calls run a ``<Dial>``: a child leg
  (``outbound-dial``, ``ParentCallSid`` set) starts one second after the parent answers,
  rings on its own, and when it is answered the two legs end together;
* delivery: every callback leaves ``delivery_s`` after its event (HTTP and queueing); a
  share ``duplicate`` is delivered a second time ``retry_s`` later (Twilio's retry after a
  lost answer), a share ``reorder`` is held back past the leg's next callback, and a share
  ``lose`` is never delivered.

The log is then in delivery order, so the callbacks of thousands of calls in flight
interleave: :func:`distinct_calls_per_poll` says how many calls a poll of N records
touches. :func:`adjacent` gives the same callbacks grouped call by call (the older
benchmark shape, kept as a labelled second row).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
API_VERSION = "2010-04-01"
EPOCH = 1_790_000_000  # simulated time of the first arrival (2026-09-21)
CHILD = 1 << 120  # a child leg's number: its parent's plus this (both still 32 hex digits)
OUTCOMES = ("answered", "busy", "no-answer", "failed")


@dataclass(frozen=True)
class Shape:
    """Every number of the model, with the defaults the benchmarks use."""

    rate: float = 30.0  # call arrivals per second (Poisson)
    ring_median_s: float = 6.0  # lognormal ring time: median
    ring_sigma: float = 0.5  # lognormal ring time: shape (~90 % between 2.6 and 14 s)
    talk_mean_s: float = 90.0  # exponential talk time: mean
    busy: float = 0.08
    no_answer: float = 0.12
    failed: float = 0.02
    no_answer_timeout_s: float = 30.0
    dial_share: float = 0.2  # answered calls that run a <Dial> child leg
    ringing_after_s: float = 1.0  # initiated -> ringing (capped at half the ring time)
    delivery_s: float = 0.05  # event -> callback delivered
    duplicate: float = 0.01
    retry_s: float = 5.0
    reorder: float = 0.01
    lose: float = 0.001
    geo: bool = False  # the From/To/Caller/Called City/State/Zip/Country fields (~1 KB)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be > 0")
        for name in ("busy", "no_answer", "failed", "dial_share", "duplicate", "reorder", "lose"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, not {v}")
        if self.busy + self.no_answer + self.failed > 1.0:
            raise ValueError("busy + no_answer + failed must not exceed 1")


class Callback(NamedTuple):
    """One delivery: when it arrives (simulated epoch seconds), its call, its parameters."""

    at: float
    call_sid: str
    params: list[list[str]]


class Leg(NamedTuple):
    sid: str
    parent: str | None
    start: float
    outcome: str
    ring: float
    talk: float  # 0 unless answered


def sid_of(number: int) -> str:
    """The CallSid of call ``number`` (child legs: ``number + CHILD``)."""
    return f"CA{number:032x}"


def legs(rnd: random.Random, number: int, start: float, shape: Shape) -> list[Leg]:
    """Call ``number``'s legs: the parent, and its <Dial> child when it has one."""
    u = rnd.random()
    ring = rnd.lognormvariate(math.log(shape.ring_median_s), shape.ring_sigma)
    if u < shape.busy:
        outcome = "busy"
    elif u < shape.busy + shape.no_answer or ring >= shape.no_answer_timeout_s:
        outcome = "no-answer"
    elif u < shape.busy + shape.no_answer + shape.failed:
        outcome = "failed"
    else:
        outcome = "answered"
    talk = rnd.expovariate(1.0 / shape.talk_mean_s) if outcome == "answered" else 0.0
    sid = sid_of(number)
    out = [Leg(sid, None, start, outcome, ring, talk)]
    if outcome == "answered" and rnd.random() < shape.dial_share:
        c_ring = rnd.lognormvariate(math.log(shape.ring_median_s), shape.ring_sigma)
        c_start = start + ring + 1.0
        if c_ring >= shape.no_answer_timeout_s:
            out.append(Leg(sid_of(number + CHILD), sid, c_start, "no-answer", c_ring, 0.0))
        else:
            c_talk = rnd.expovariate(1.0 / shape.talk_mean_s)
            out.append(Leg(sid_of(number + CHILD), sid, c_start, "answered", c_ring, c_talk))
            # the parent hangs up when the child does (the <Dial> ends the call)
            out[0] = out[0]._replace(talk=1.0 + c_ring + c_talk)
    return out


def steps(leg: Leg, timeout: float, ringing_after: float) -> list[tuple[float, str]]:
    """(event time, CallStatus) of each callback the leg sends: the emulator's lifecycle."""
    t = leg.start
    if leg.outcome in ("busy", "failed"):
        return [(t, "initiated"), (t + leg.ring, leg.outcome)]
    ringing = t + min(ringing_after, leg.ring / 2)
    if leg.outcome == "no-answer":
        return [(t, "initiated"), (ringing, "ringing"), (t + min(leg.ring, timeout), "no-answer")]
    answer = t + leg.ring
    return [
        (t, "initiated"),
        (ringing, "ringing"),
        (answer, "in-progress"),
        (answer + leg.talk, "completed"),
    ]


def rfc2822(ts: float) -> str:
    """Twilio's ``Timestamp``: ``Tue, 31 Aug 2010 20:36:28 +0000``."""
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    d, s = divmod(int(ts), 86400)
    y, m, day = _civil(d)
    wd = days[(d + 3) % 7]  # 1970-01-01 was a Thursday
    return (
        f"{wd}, {day:02d} {months[m - 1]} {y} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d} +0000"
    )


def _civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


_GEO_FROM = ("OAKLAND", "CA", "94601", "US")
_GEO_TO = ("SAN FRANCISCO", "CA", "94105", "US")


def params(leg: Leg, seq: int, status: str, at: float, geo: bool) -> list[list[str]]:
    """The parameter list of one status callback, in the emulator's order."""
    frm, to = "+14155550100", f"+1415555{int(leg.sid[-4:], 16) % 10000:04d}"
    p = [
        ["AccountSid", ACCOUNT_SID],
        ["ApiVersion", API_VERSION],
        ["CallSid", leg.sid],
        ["CallStatus", status],
        ["Called", to],
        ["Caller", frm],
        ["Direction", "outbound-api" if leg.parent is None else "outbound-dial"],
        ["From", frm],
        ["To", to],
    ]
    if leg.parent is not None:
        p.append(["ParentCallSid", leg.parent])
    if geo:
        for prefix, (city, state, zip_, country) in (
            ("From", _GEO_FROM),
            ("Caller", _GEO_FROM),
            ("To", _GEO_TO),
            ("Called", _GEO_TO),
        ):
            p += [
                [f"{prefix}City", city],
                [f"{prefix}State", state],
                [f"{prefix}Zip", zip_],
                [f"{prefix}Country", country],
            ]
    p += [
        ["CallbackSource", "call-progress-events"],
        ["SequenceNumber", str(seq)],
        ["Timestamp", rfc2822(at)],
    ]
    if status not in ("initiated", "ringing", "in-progress"):
        talk = round(leg.talk) if status == "completed" else 0
        billed = max(1, math.ceil(talk / 60)) if status == "completed" else 0
        sip = {"completed": 200, "busy": 486, "no-answer": 487, "failed": 404}[status]
        p += [["CallDuration", str(talk)], ["Duration", str(billed)], ["SipResponseCode", str(sip)]]
    return p


def deliveries(rnd: random.Random, leg: Leg, shape: Shape) -> list[Callback]:
    """The leg's callbacks as delivered: delayed, some duplicated, held back or lost."""
    evs = steps(leg, shape.no_answer_timeout_s, shape.ringing_after_s)
    out: list[Callback] = []
    for seq, (at, status) in enumerate(evs):
        if rnd.random() < shape.lose:
            continue
        ps = params(leg, seq, status, at, shape.geo)
        when = at + shape.delivery_s
        if seq + 1 < len(evs) and rnd.random() < shape.reorder:
            when = evs[seq + 1][0] + 2 * shape.delivery_s  # arrives after the next one
        out.append(Callback(when, leg.sid, ps))
        if rnd.random() < shape.duplicate:
            out.append(Callback(when + shape.retry_s, leg.sid, ps))
    return out


def callbacks(
    n_calls: int, shape: Shape | None = None, seed: int = 1, first: int = 0
) -> Iterator[Callback]:
    """The callbacks of ``n_calls`` calls (numbered ``first`` onwards), in delivery order.

    Memory stays bounded by the calls in flight: a call's deliveries are all later than its
    arrival, so everything due before the next arrival can be yielded before it is drawn.
    """
    shape = shape or Shape()
    rnd = random.Random(seed)
    heap: list[tuple[float, int, Callback]] = []
    tie = 0
    t = float(EPOCH)
    for number in range(first, first + n_calls):
        t += rnd.expovariate(shape.rate)
        while heap and heap[0][0] <= t:
            yield heapq.heappop(heap)[2]
        for leg in legs(rnd, number, t, shape):
            for cb in deliveries(rnd, leg, shape):
                heapq.heappush(heap, (cb.at, tie, cb))
                tie += 1
    while heap:
        yield heapq.heappop(heap)[2]


def adjacent(cbs: Iterable[Callback]) -> list[Callback]:
    """The same callbacks grouped call by call (a child leg with its parent), each call's in
    their delivery order, calls in the order they first appear: the older benchmark shape."""
    groups: dict[str, list[Callback]] = {}
    for cb in cbs:
        groups.setdefault(family(cb), []).append(cb)
    return [cb for group in groups.values() for cb in group]


def family(cb: Callback) -> str:
    """The CallSid of the call a callback belongs to: its parent's for a child leg."""
    for name, value in cb.params:
        if name == "ParentCallSid":
            return value
    return cb.call_sid


def distinct_calls_per_poll(sids: Sequence[str], poll: int) -> float:
    """How many distinct CallSids an average poll of ``poll`` consecutive records touches
    (the last, partial poll included)."""
    if poll <= 0:
        raise ValueError("poll must be > 0")
    if not sids:
        return 0.0
    counts = [len(set(sids[i : i + poll])) for i in range(0, len(sids), poll)]
    return sum(counts) / len(counts)


def in_flight(cbs: Sequence[Callback]) -> int:
    """The largest number of calls between their first and last delivery at one moment."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for cb in cbs:
        first.setdefault(cb.call_sid, cb.at)
        last[cb.call_sid] = cb.at
    edges = sorted([(t, 1) for t in first.values()] + [(t, -1) for t in last.values()])
    best = cur = 0
    for _, d in edges:
        cur += d
        best = max(best, cur)
    return best


class Timed(NamedTuple):
    """A callback of a replay and when to send it, in seconds after the replay starts."""

    due: float
    cb: Callback


def replay(cbs: Iterable[Callback], skip_s: float, count: int, seconds: float) -> list[Timed]:
    """The first ``count`` callbacks delivered ``skip_s`` or more simulated seconds after the
    first arrival, due at their delivery times with the model's clock sped up (or slowed
    down) so that they span ``seconds``: the same order and relative spacing, at an average
    of ``count / seconds`` per second. Skipping lets the replay start in the steady state
    (calls of every age in flight) instead of with an empty system. ``cbs`` is read lazily
    and only as far as needed, so ``callbacks(10**9, ...)`` is fine."""
    if count < 1 or seconds <= 0:
        raise ValueError("count must be >= 1 and seconds > 0")
    start = EPOCH + skip_s
    window: list[Callback] = []
    for cb in cbs:
        if cb.at >= start:
            window.append(cb)
            if len(window) == count:
                break
    if not window:
        return []
    a0 = window[0].at
    span = window[-1].at - a0
    # count callbacks span count - 1 gaps; the replay lasts count gaps
    scale = seconds * (len(window) - 1) / len(window) / span if span > 0 else 0.0
    return [Timed((cb.at - a0) * scale, cb) for cb in window]


def speedup(timed: Sequence[Timed]) -> float:
    """How many times faster than the model's clock a replay runs."""
    if len(timed) < 2 or timed[-1].due == 0:
        return 1.0
    return (timed[-1].cb.at - timed[0].cb.at) / timed[-1].due


def regrouped(timed: Sequence[Timed]) -> list[Timed]:
    """The same send times, the callbacks in :func:`adjacent` order: the older benchmarks'
    shape at the same rate, as a labelled second row."""
    cbs = adjacent(t.cb for t in timed)
    return [Timed(t.due, cb) for t, cb in zip(timed, cbs, strict=True)]


def sequence_of(cb: Callback) -> int:
    for name, value in cb.params:
        if name == "SequenceNumber":
            return int(value)
    raise ValueError(f"callback of {cb.call_sid} has no SequenceNumber")


def first_sends(timed: Iterable[Timed]) -> dict[tuple[str, int], float]:
    """(CallSid, SequenceNumber) -> due time of its first send: the send that makes its
    event row appear (a duplicate sent later changes nothing)."""
    out: dict[tuple[str, int], float] = {}
    for t in timed:
        key = (t.cb.call_sid, sequence_of(t.cb))
        if key not in out or t.due < out[key]:
            out[key] = t.due
    return out
