"""The projector tells a restored log (same records, same offsets, new topic id) from a
replaced one, and logs which it decided."""

from __future__ import annotations

import io
import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from callstream import kafka_clients
from callstream.archive import Archiver
from callstream.archive_store import ArchiveStore
from callstream.broker import EmbeddedBroker
from callstream.restore import restore
from callstream.settings import Settings
from projector.consumer import LogWentBackwards, Projector
from tests.conftest import make_settings
from tests.projector.support import call_log, produce, tables
from tests.projector.test_consumer import project as project_into


def project(s: Settings) -> Projector:
    return project_into(s, s.db)


def archive_and_lose_the_broker(b: EmbeddedBroker, tmp: Path) -> Settings:
    s = make_settings(b.bootstrap, "tansu", tmp, archive=str(tmp / "archive.db"))
    kafka_clients.ensure_topics(s)
    produce(s, call_log(60))
    project(s)
    store = ArchiveStore(s.archive)
    try:
        Archiver(s, store, kafka_clients.TANSU).run(once=True)
    finally:
        store.close()
    b.restart()  # memory storage: the log is gone, the topics come back with new ids
    kafka_clients.ensure_topics(s)
    return s


def test_a_restored_log_is_accepted(
    fresh_broker: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = archive_and_lose_the_broker(fresh_broker, tmp_path)
    with sqlite3.connect(s.db) as c:
        before = tables(c)
    store = ArchiveStore(s.archive, readonly=True)
    restore(s, store, out=io.StringIO())
    store.close()
    produce(s, call_log(5, start=500))
    with caplog.at_level(logging.INFO, logger="callstream.projector"):
        p = project(s)
    assert p.progress.records == len(call_log(5, start=500))  # only the new ones
    assert any(r.getMessage() == "log restored; accepting it" for r in caplog.records)
    with sqlite3.connect(s.db) as c:
        after = tables(c)
    assert set(before["calls"]) <= set(after["calls"])
    assert len(after["calls"]) == 65


def test_a_replaced_log_is_refused_even_when_longer(
    fresh_broker: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = archive_and_lose_the_broker(fresh_broker, tmp_path)
    produce(s, call_log(200, seed=99, start=1000))  # another log, past the stored offsets
    with (
        caplog.at_level(logging.INFO, logger="callstream.projector"),
        pytest.raises(LogWentBackwards, match="holds a different record at offset"),
    ):
        project(s)
    assert any(r.getMessage() == "log replaced; refusing it" for r in caplog.records)


def test_a_shorter_log_is_refused(fresh_broker: EmbeddedBroker, tmp_path: Path) -> None:
    s = archive_and_lose_the_broker(fresh_broker, tmp_path)
    produce(s, call_log(3))
    with pytest.raises(LogWentBackwards, match="went backwards"):
        project(replace(s))
