"""Scenario 5: the projector's disk fills up, then its file system turns read-only.

The database lives on a small tmpfs of its own (mounting one needs root; the scenario is
skipped with the reason otherwise; permission bits cannot stand in, since root ignores them
and an open file descriptor keeps writing anyway). Under load:

1. the tmpfs fills: the projector stops with a clear error and a non-zero status, the file
   passes ``PRAGMA integrity_check``; the tmpfs is grown (space returns) and the projector,
   started again as its supervisor would, catches up;
2. the projector crashes (kill -9) and comes back to a tmpfs remounted read-only: it
   stops with a clear error about it; remounted read-write, the projector catches up
   again.

Ingest is not affected (it writes to Kafka), so every callback acknowledged meanwhile is
in the projected state in the end, exactly as a clean run gives it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.support import (
    DirectLoad,
    EmulatorLoad,
    Figures,
    Ledger,
    TopicWatcher,
    integrity,
    make_pipeline,
    record,
    settings_of,
    verify_after_load,
    wait_projector_caught_up,
)
from tests.helpers import wait_until
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "dbfs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs for the projector's database")
    r = _mount("-t", "tmpfs", "-o", "size=384k,mode=0755", "tmpfs", str(mnt))
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fails_with(p: Pipeline, text: str) -> str:
    proj = p["projector"]
    wait_until(lambda: not proj.alive(), timeout=30, what=f"projector stops ({text})")
    assert proj.proc is not None and proj.proc.returncode != 0, proj.tail()
    last = proj.log_text().strip().splitlines()[-1]
    assert last.startswith("callstream projector: error:"), proj.tail()
    assert text in last, last
    assert p.env["CALLSTREAM_DB"] in last, f"the error does not name the file: {last}"
    return last


def test_projector_disk_full_then_read_only_recovers(tmp_path: Path, small_fs: Path) -> None:
    db = small_fs / "callstream.db"
    ledger = Ledger()
    recovery: dict[str, float] = {}
    errors: dict[str, str] = {}
    with make_pipeline(tmp_path, CALLSTREAM_DB=str(db)) as p:
        p.start("broker", "emulator", "projector", "ingest")
        proj = p["projector"]
        watcher = TopicWatcher(settings_of(p))
        try:
            with DirectLoad(p, ledger, rate=150) as load, EmulatorLoad(p, rate=4) as emu:
                # 1. disk full
                errors["full"] = _fails_with(p, "database or disk is full")
                assert integrity(db) == "ok"
                n = ledger.count_acked()
                wait_until(lambda: ledger.count_acked() >= n + 100, what="load goes on")
                assert _mount("-o", "remount,size=64m", str(small_fs)).returncode == 0
                back = time.monotonic()
                proj.start(ready="/livez")
                wait_projector_caught_up(p, watcher, db)
                recovery["full"] = time.monotonic() - back
                # 2. read-only file system (Linux refuses to remount read-only while a file
                # is open for writing: the projector crashes first, and comes back to a
                # file system that is now read-only, as after a reboot onto a bad volume)
                proj.kill9()
                wait_until(
                    lambda: _mount("-o", "remount,ro", str(small_fs)).returncode == 0,
                    interval=0.1,
                    what="tmpfs remounted read-only",
                )
                proj.start(ready=None)
                errors["ro"] = _fails_with(p, "readonly database")
                n = ledger.count_acked()
                wait_until(lambda: ledger.count_acked() >= n + 100, what="load goes on")
                assert _mount("-o", "remount,rw", str(small_fs)).returncode == 0
                assert integrity(db) == "ok"
                back = time.monotonic()
                proj.start(ready="/livez")
                wait_projector_caught_up(p, watcher, db)
                recovery["ro"] = time.monotonic() - back
                load.stop()
                emu.stop()
            tally, lost, dup = verify_after_load(p, tmp_path, ledger, emu, watcher)
        finally:
            watcher.close()
        record(
            Figures(
                "projector disk full, then read-only",
                sent=len(ledger.snapshot()) + tally.attempted,
                acked=ledger.count_acked() + tally.acked,
                lost=lost,
                duplicated=dup,
                recovery_s=max(recovery.values()),
                note="recovery: space (or write access) back and projector restarted, to lag 0",
                extra={
                    "recovery_full_s": round(recovery["full"], 2),
                    "recovery_ro_s": round(recovery["ro"], 2),
                },
            )
        )
        for e in errors.values():
            print(e)
