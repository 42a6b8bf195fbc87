"""A call leg's life as a list of timed steps, computed from its outcome. Pure.

Offsets are simulated seconds after the leg starts dialing (it left the CPS queue, or a
``<Dial>`` started it). ``event`` is the subscription name (``initiated``, ``ringing``,
``answered``, ``completed``); ``status`` the ``CallStatus`` sent with it (``answered`` is
sent as ``in-progress``; the ``completed`` event carries the terminal status).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emulator.scenarios import Outcome

SIP_OK = 200
SIP_BUSY = 486
SIP_CANCELED = 487  # also "not answered before Timeout"
SIP_NOT_FOUND = 404

# REST status while each callback status is current ("initiated" is not a REST status)
REST_STATUS = {
    "initiated": "ringing",
    "ringing": "ringing",
    "in-progress": "in-progress",
}


@dataclass(frozen=True)
class Step:
    at: float
    event: str
    status: str
    call_duration: int | None = None  # terminal steps only
    sip_code: int | None = None  # terminal steps only
    answered_by: str | None = None

    @property
    def terminal(self) -> bool:
        return self.event == "completed"

    @property
    def rest_status(self) -> str:
        return REST_STATUS.get(self.status, self.status)


def billed_minutes(step: Step) -> int:
    """``Duration`` on the completed event: whole minutes, rounded up; a connected call
    bills at least one minute; unanswered outcomes bill 0."""
    if step.status != "completed" or step.call_duration is None:
        return 0
    return max(1, math.ceil(step.call_duration / 60))


def answered_by_for(outcome: Outcome, machine_detection: str | None) -> str | None:
    """``AnsweredBy`` is only reported when the create asked for machine detection."""
    if machine_detection is None:
        return None
    if outcome.answered_by is not None:
        return outcome.answered_by
    if outcome.outcome == "machine":
        return "machine_end_beep" if machine_detection == "DetectMessageEnd" else "machine_start"
    return "human"


def plan(
    outcome: Outcome,
    timeout: float,
    time_limit: float,
    machine_detection: str | None = None,
) -> list[Step]:
    """Every step a leg goes through if nobody interrupts it."""
    steps = [Step(0.0, "initiated", "initiated")]
    kind = outcome.outcome
    if kind == "busy":
        steps.append(Step(outcome.ring, "completed", "busy", 0, SIP_BUSY))
        return steps
    if kind == "failed":
        code = outcome.sip_code or SIP_NOT_FOUND
        steps.append(Step(outcome.ring, "completed", "failed", 0, code))
        return steps
    steps.append(Step(0.0, "ringing", "ringing"))
    if kind == "no-answer" or outcome.ring >= timeout:
        steps.append(Step(float(timeout), "completed", "no-answer", 0, SIP_CANCELED))
        return steps
    by = answered_by_for(outcome, machine_detection)
    answer_at = outcome.ring
    talk = min(outcome.talk, float(time_limit))
    steps.append(Step(answer_at, "answered", "in-progress", answered_by=by))
    steps.append(
        Step(answer_at + talk, "completed", "completed", round(talk), SIP_OK, answered_by=by)
    )
    return steps


def hangup(steps: list[Step], elapsed: float, requested: str) -> Step | None:
    """The terminal step when the REST API asks for ``Status=canceled|completed`` at
    ``elapsed`` simulated seconds, or None when the request does not apply.

    ``canceled`` ends only a ringing leg; ``completed`` ends it whatever its state
    (a ringing leg then ends ``canceled``, an answered one ``completed``).
    """
    answered = next((s for s in steps if s.event == "answered" and s.at <= elapsed), None)
    if answered is None:
        return Step(elapsed, "completed", "canceled", 0, SIP_CANCELED)
    if requested == "canceled":
        return None
    talk = max(0.0, elapsed - answered.at)
    return Step(elapsed, "completed", "completed", round(talk), SIP_OK, answered.answered_by)
