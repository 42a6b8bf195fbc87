"""Scenario 4: the dialer killed with kill -9 with a backlog, then restarted, and a second
dialer taking over when the owner is killed again.

Requests go in through ingest's ``POST /dial``; the emulator records every create it
receives (``/emulator/requests``, counting only entries with a ``call_sid``, i.e. calls
actually created). Promise: no request is placed twice, every request gets exactly one
outcome, creates for the account are never closer than ``1 / CALLSTREAM_CPS`` where the
emulator receives them, and the dialed calls' callbacks (chaos on) end in the projected
state exactly as the emulator finished the calls.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from callstream import topics
from tests.faults.support import (
    Figures,
    TopicWatcher,
    emulator_tally,
    make_pipeline,
    record,
    settings_of,
    verify,
    wait_emulator_settled,
)
from tests.helpers import ACCOUNT_SID, read_topic, wait_until
from tests.support.pipeline import Pipeline, Proc

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

CPS = 4
N = 24


def creates(p: Pipeline) -> list[dict[str, Any]]:
    """Creates the emulator accepted (a call was made), in the order received."""
    r = httpx.get(p["emulator"].url + "/emulator/requests", timeout=10)
    r.raise_for_status()
    return [e for e in r.json() if e["call_sid"] and e["account_sid"] == ACCOUNT_SID]


def owner(dialers: list[Proc], partition: int) -> Proc:
    """The live dialer that owns the requests partition of the account."""

    def find() -> Proc | None:
        for d in dialers:
            if not d.alive():
                continue
            try:
                body = httpx.get(d.url + "/readyz", timeout=5).json()
            except httpx.HTTPError:
                continue
            if partition in body.get("partitions", []):
                return d
        return None

    return wait_until(find, timeout=30, what="the owner of the account's partition")


def test_dialer_killed_with_a_backlog_restarted_and_taken_over(tmp_path: Path) -> None:
    with make_pipeline(tmp_path, emulator_cps=None, CALLSTREAM_CPS=str(CPS)) as p:
        p.start("broker", "emulator", "projector", "ingest", "dialer")
        s = settings_of(p)
        tos = [f"+1555000{i:04d}" for i in range(N)]
        with httpx.Client(timeout=10) as c:
            for i, to in enumerate(tos):
                r = c.post(
                    p["ingest"].url + "/dial",
                    json={
                        "id": f"fault-{i}",
                        "to": to,
                        "from": "+15005550006",
                        "twiml": "<Response><Say>fault injection</Say></Response>",
                    },
                )
                assert r.status_code == 202, r.text
        partition = read_topic(s, s.topic(topics.DIALER_REQUESTS), expect=N)[0].partition

        a = p["dialer"]
        wait_until(lambda: len(creates(p)) >= 5, timeout=30, what="first calls placed")
        a.kill9()
        killed = time.time()
        a.start()
        b = p.add("dialer-2", "dialer").start()
        wait_until(lambda: len(creates(p)) >= 12, timeout=30, what="calls after the restart")
        resumed = min(e["received_at"] for e in creates(p) if e["received_at"] > killed)
        victim = owner([a, b], partition)
        victim.kill9()
        killed2 = time.time()
        survivor = b if victim is a else a
        assert owner([survivor], partition) is survivor
        t_outcomes = s.topic(topics.DIALER_OUTCOMES)
        read_topic(s, t_outcomes, expect=N, timeout=60)  # every request answered
        outs = [json.loads(r.value) for r in read_topic(s, t_outcomes)]  # all of them
        done = creates(p)
        taken_over = min(e["received_at"] for e in done if e["received_at"] > killed2)

        # no request placed twice, one outcome each
        placed = Counter(dict(e["params"])["To"] for e in done)
        doubles = {to: n for to, n in placed.items() if n > 1}
        assert not doubles, f"placed twice: {doubles}"
        assert Counter(o["id"] for o in outs) == {f"fault-{i}": 1 for i in range(N)}
        by_to = {dict(e["params"])["To"]: e["call_sid"] for e in done}
        for o in outs:
            to = tos[int(o["id"].split("-")[1])]
            if o["result"] == "created" or o.get("reconciliation") == "matched":
                assert o["call_sid"] == by_to[to], o
            else:  # only a send cut short by a kill may be in doubt, and it was not placed
                assert o["result"] == "in-doubt" and to not in by_to, o
        # never faster than the account's rate where the creates arrive
        times = sorted(e["received_at"] for e in done)
        gaps = [y - x for x, y in pairwise(times)]
        assert min(gaps) >= 1 / CPS, f"creates {min(gaps):.4f} s apart (CPS {CPS})"

        # the dialed calls' callbacks, chaos on, end in the projected state
        sids = [e["call_sid"] for e in done]
        wait_emulator_settled(p, sids)
        tally = emulator_tally(p, sids)
        watcher = TopicWatcher(s)
        try:
            lost, dup = verify(
                p,
                tmp_path,
                acked=tally.acked_keys,
                watcher=watcher,
                emulator_sids=sids,
                terminal_acked=tally.terminal_acked,
            )
        finally:
            watcher.close()
        record(
            Figures(
                "dialer kill -9, restart, takeover",
                sent=tally.attempted,
                acked=tally.acked,
                lost=lost,
                duplicated=dup,
                recovery_s=max(resumed - killed, taken_over - killed2),
                note="recovery: kill to the next create (restart; takeover by the other dialer)",
                extra={
                    "requests": N,
                    "placed": len(done),
                    "placed_twice": len(doubles),
                    "in_doubt": sum(o["result"] == "in-doubt" for o in outs),
                    "min_gap_s": round(min(gaps), 3),
                    "cps": CPS,
                    "restart_s": round(resumed - killed, 2),
                    "takeover_s": round(taken_over - killed2, 2),
                },
            )
        )
