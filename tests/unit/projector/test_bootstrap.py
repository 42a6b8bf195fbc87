"""The projector's wiring (projector/bootstrap.py) with in-memory ports: the consumer loop,
the service around it and the startup checks, with no broker and no API process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callstream.errors import StartupError
from callstream.settings import Settings, SettingsError
from projector.bootstrap import Ports, Wiring, build
from projector.consumer import ProjectorError
from projector.service import run_service
from projector.store import Store, dump
from tests.unit.projector.callbacks import callback
from tests.unit.projector.fakes import FakeApi, FakeClock, FakeConsumer

TOPIC = "twilio.call-status"
TABLES = ("calls", "call_events", "rejected_events", "projector_offsets")


def a_log() -> dict[int, list[bytes | str | None]]:
    sids = ["CA" + str(i) * 32 for i in range(1, 5)]
    logs: dict[int, list[bytes | str | None]] = {0: [], 1: []}
    for n, sid in enumerate(sids):
        for seq, status in ((1, "ringing"), (0, "initiated"), (2, "completed"), (1, "ringing")):
            logs[n % 2].append(callback(seq, status, sid=sid))
    logs[1].append(b"not an envelope")
    return logs


def wired(tmp_path: Path, fake: FakeConsumer, clock: FakeClock | None = None) -> Wiring:
    ports = Ports(consumer=lambda: fake, clock=(clock or FakeClock()).clock(), api=FakeApi)
    return build(Settings(db=tmp_path / "p.db"), "127.0.0.1", 1, ports=ports)


def stop_at_end(fake: FakeConsumer, wiring: list[Wiring]) -> None:
    """An on_poll hook: stop the projector (as SIGTERM would) once the log is read."""
    if fake.assigned and all(fake.position[p] == len(v) for p, v in fake.logs.items()):
        wiring[0].projector.stop()


def tables(path: Path) -> dict[str, list[Any]]:
    store = Store(path, TOPIC)
    try:
        return {t: dump(store.conn, t) for t in TABLES}
    finally:
        store.close()


def test_a_projector_built_with_fakes_gives_the_stores_tables(tmp_path: Path) -> None:
    logs = a_log()
    fake = FakeConsumer(TOPIC, logs)
    wiring = wired(tmp_path, fake)
    prog = wiring.projector.run(until_caught_up=True)
    wiring.store.close()
    assert fake.closed and prog.records == sum(map(len, logs.values()))
    direct = Store(tmp_path / "direct.db", TOPIC)
    direct.apply([(p, o, v) for p, vs in logs.items() for o, v in enumerate(vs)])
    direct.close()
    got = tables(tmp_path / "p.db")
    assert got == tables(tmp_path / "direct.db")
    assert len(got["calls"]) == 4 and len(got["rejected_events"]) == 1


def test_the_service_runs_until_stopped_and_commits_the_group_offsets(tmp_path: Path) -> None:
    logs = a_log()
    holder: list[Wiring] = []
    fake = FakeConsumer(TOPIC, logs, on_poll=lambda f: stop_at_end(f, holder))
    holder.append(wired(tmp_path, fake))
    api = holder[0].api
    assert isinstance(api, FakeApi) and api.db == tmp_path / "p.db"
    outcome = run_service(holder[0], "127.0.0.1", 1)
    assert outcome.fatal is None
    assert api.started and api.stopped and fake.closed
    # the clock never moved: no commit in the loop, one at the end with every offset
    assert fake.commits == 1
    assert fake.committed == {p: len(v) for p, v in logs.items()}


def test_group_commits_follow_the_clock(tmp_path: Path) -> None:
    holder: list[Wiring] = []
    fake = FakeConsumer(TOPIC, a_log(), per_poll=1, on_poll=lambda f: stop_at_end(f, holder))
    holder.append(wired(tmp_path, fake, FakeClock(step=0.6)))
    assert run_service(holder[0], "127.0.0.1", 1).fatal is None
    assert 1 < fake.commits < fake.polls


def test_the_api_dying_stops_the_projector_with_its_reason(tmp_path: Path) -> None:
    holder: list[Wiring] = []

    def die(f: FakeConsumer) -> None:
        api = holder[0].api
        assert isinstance(api, FakeApi)
        api.on_exit("the API process exited with status 3")

    fake = FakeConsumer(TOPIC, a_log(), on_poll=die)
    holder.append(wired(tmp_path, fake))
    outcome = run_service(holder[0], "127.0.0.1", 1)
    assert outcome.fatal == "the API process exited with status 3"
    assert holder[0].projector.progress.fatal == outcome.fatal


def test_a_log_that_went_backwards_stops_the_service(tmp_path: Path) -> None:
    logs = a_log()
    first = wired(tmp_path, FakeConsumer(TOPIC, logs))
    first.projector.run(until_caught_up=True)
    first.store.close()
    shorter = {p: v[:2] for p, v in logs.items()}
    outcome = run_service(wired(tmp_path, FakeConsumer(TOPIC, shorter)), "127.0.0.1", 1)
    assert outcome.fatal is not None
    assert outcome.fatal.startswith(f"the log went backwards: {TOPIC} partition 0 ends at ")


def test_a_missing_topic_is_waited_for_on_the_clock_then_named(tmp_path: Path) -> None:
    clock = FakeClock()
    wiring = wired(tmp_path, FakeConsumer("other", {0: []}), clock)
    with pytest.raises(ProjectorError, match=f"topic {TOPIC} does not exist"):
        wiring.projector.run(topic_wait_s=30.0)
    wiring.store.close()
    assert 29.9 < clock.slept < 30.5  # 0.2 s steps, summed in floating point


def test_startup_failures_are_startup_errors(tmp_path: Path) -> None:
    """No broker configured (a setting), a file that is not a database (not a setting):
    both are one line for the CLI, checked before anything is reached over the network."""
    with pytest.raises(SettingsError, match=r"^KAFKA_BOOTSTRAP_SERVERS is not set"):
        build(Settings(db=tmp_path / "p.db"), "127.0.0.1", 1)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all, not even close" * 100)
    with pytest.raises(StartupError, match=f"^cannot use the database {junk}: "):
        build(Settings(db=junk), "127.0.0.1", 1, ports=Ports(consumer=list))


def test_a_rebuild_with_fakes_equals_the_live_database(tmp_path: Path) -> None:
    import io

    from callstream import kafka_clients
    from projector.rebuild import rebuild

    logs = a_log()
    live = wired(tmp_path, FakeConsumer(TOPIC, logs))
    live.projector.run(until_caught_up=True)
    live.store.close()
    fake = FakeConsumer(TOPIC, logs)
    ports = Ports(consumer=lambda: fake, clock=FakeClock().clock())
    out = io.StringIO()
    counts = rebuild(Settings(), tmp_path / "new.db", kafka_clients.TANSU, out, ports)
    assert counts == {t: len(rows) for t, rows in tables(tmp_path / "p.db").items()}
    assert tables(tmp_path / "new.db") == tables(tmp_path / "p.db")
    assert fake.commits == 0 and fake.closed  # no consumer group: nothing committed
    assert not (tmp_path / "new.db.partial").exists()
