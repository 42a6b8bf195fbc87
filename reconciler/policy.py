"""Pure: which calls to ask Twilio about, and when; what each answer does to a call's track.

No I/O and no clock: every function takes ``now`` (Unix seconds). The state of one call is a
:class:`Track`; :mod:`reconciler.state` stores them, :mod:`reconciler.loop` applies these
rules to what it reads from the log and what Twilio answers.

When (defaults in docs/reconciliation.md, *Defaults and why*):

* a call not yet answered (queued, initiated, ringing, or known only from the dialer's
  ``created`` outcome) is asked about ``after`` seconds after its last event;
* a call in progress ``in_progress_factor`` times later (calls talk for minutes);
* after a non-terminal answer or a failed request, again after ``after * 2**attempts``
  (capped at ``max_backoff``), at most ``max_attempts`` times, then it is given up;
* a 404 is recorded once and never asked again; a 429 waits ``Retry-After`` and does not
  count as an attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from callstream.callstatus import TERMINAL
from callstream.snapshots import RANK


@dataclass(frozen=True, slots=True)
class Policy:
    after: float = 120.0
    in_progress_factor: float = 5.0
    max_backoff: float = 3600.0
    max_attempts: int = 8
    retry_after_default: float = 5.0  # a 429 without a usable Retry-After
    retry_after_max: float = 300.0

    def window(self, status: str | None) -> float:
        """Seconds of silence after which a call in ``status`` is worth asking about."""
        return self.after * (self.in_progress_factor if status == "in-progress" else 1.0)

    def backoff(self, status: str | None, attempts: int) -> float:
        """The wait before the next ask, after ``attempts`` (>= 1) answers that settled
        nothing."""
        grown = self.window(status) * 2.0 ** min(max(attempts - 1, 0), 30)
        return min(grown, max(self.max_backoff, self.window(status)))

    def retry_after(self, header: float | None) -> float:
        if header is None or not header >= 0:  # None, NaN, negative
            return self.retry_after_default
        return min(header, self.retry_after_max)


@dataclass(frozen=True, slots=True)
class Track:
    """What the reconciler knows about one call."""

    call_sid: str
    account_sid: str | None
    status: str | None  # None: known only from the dialer's outcome
    sequence: int | None  # SequenceNumber behind ``status`` (None: from the dialer)
    last_event_at: float
    attempts: int = 0
    next_ask_at: float | None = None  # None: never again (terminal, 404, given up)
    gone: bool = False  # Twilio answered 404
    gave_up: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def pending(self) -> bool:
        return self.next_ask_at is not None


def _better(status: str, seq: int, track: Track) -> bool:
    """Whether an event (``status``, ``seq``) decides the status over the track's, by the
    projector's rule: terminal first, else the highest SequenceNumber."""
    if track.terminal:
        return False
    if status in TERMINAL:
        return True
    return track.sequence is None or seq > track.sequence


@dataclass(frozen=True, slots=True)
class Seen:
    """One record of ``twilio.call-status`` as the reconciler reads it."""

    call_sid: str
    account_sid: str | None
    status: str
    sequence: int
    at: float  # when it was logged (Unix seconds)
    snapshot: bool  # one of ours (CallbackSource=callstream-reconciler)


def on_event(track: Track | None, seen: Seen, policy: Policy) -> Track:
    """A callback (or one of our snapshots) for the call."""
    call_sid, account_sid, status, seq, at = (
        seen.call_sid,
        seen.account_sid,
        seen.status,
        seen.sequence,
        seen.at,
    )
    if track is None:
        track = Track(call_sid, account_sid, None, None, at)
    if track.account_sid is None and account_sid:
        track = replace(track, account_sid=account_sid)
    if _better(status, seq, track):
        track = replace(track, status=status, sequence=seq)
    if track.terminal:
        return replace(track, next_ask_at=None)
    if track.gone or track.gave_up:
        return track  # a call we stopped asking about
    if seen.snapshot:
        # our own answer coming back: the schedule the answer set stays; a call first seen
        # through a snapshot (the state was reset) is scheduled from it
        if track.next_ask_at is None:
            return replace(track, next_ask_at=at + policy.window(track.status))
        return track
    # a callback: the call is alive; count its silence again from here
    last = max(track.last_event_at, at)
    return replace(
        track, last_event_at=last, attempts=0, next_ask_at=last + policy.window(track.status)
    )


def on_created(
    track: Track | None, call_sid: str, account_sid: str | None, at: float, policy: Policy
) -> Track:
    """The dialer reported the call ``created`` at ``at``."""
    if track is not None:
        if track.account_sid is None and account_sid:
            return replace(track, account_sid=account_sid)
        return track
    return Track(call_sid, account_sid, None, None, at, next_ask_at=at + policy.window(None))


@dataclass(frozen=True, slots=True)
class Found:
    status: str


@dataclass(frozen=True, slots=True)
class NotFound:
    pass


@dataclass(frozen=True, slots=True)
class Limited:
    retry_after: float | None  # seconds, from Retry-After


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


Answer = Found | NotFound | Limited | Failed


def on_answer(track: Track, answer: Answer, now: float, policy: Policy) -> Track:
    """What Twilio's answer at ``now`` does to the track."""
    if isinstance(answer, NotFound):
        return replace(track, gone=True, next_ask_at=None)
    if isinstance(answer, Limited):
        return replace(track, next_ask_at=now + policy.retry_after(answer.retry_after))
    basis = track.status
    if isinstance(answer, Found):
        if answer.status in TERMINAL:
            return replace(track, status=answer.status, sequence=-1, next_ask_at=None)
        # the snapshot itself updates the status when it comes back through the log; its
        # status sets the wait (an answered call is asked about less often)
        basis = answer.status
    attempts = track.attempts + 1
    if attempts >= policy.max_attempts:
        return replace(track, attempts=attempts, next_ask_at=None, gave_up=True)
    return replace(track, attempts=attempts, next_ask_at=now + policy.backoff(basis, attempts))


class Pace:
    """The global limit on requests to the REST API: at most ``rate`` per second, and none
    before a 429's ``Retry-After`` has passed (Twilio's limits are per account, and the
    reconciler has one account today)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = 0.0

    def wait(self, now: float) -> float:
        """Seconds until the next request may start (0: now)."""
        return max(0.0, self.next_at - now)

    def sent(self, now: float) -> None:
        self.next_at = max(self.next_at, now + self.interval)

    def hold(self, now: float, seconds: float) -> None:
        self.next_at = max(self.next_at, now + seconds)


def due(track: Track, now: float) -> bool:
    return track.next_ask_at is not None and track.next_ask_at <= now


def worth_appending(track: Track, status: str) -> bool:
    """Whether a snapshot of ``status`` can change the call's projected row: a terminal one
    always; a live one only for a call that has no callback yet and only when it is a later
    stage than the snapshots already logged (anything else would count for nothing)."""
    if status in TERMINAL:
        return True
    rank = RANK.get(status)
    if rank is None:
        return False
    return track.sequence is None or (track.sequence < 0 and rank > track.sequence)
