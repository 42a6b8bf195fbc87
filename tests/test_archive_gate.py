"""The archive gate holds an acknowledgement until the archive file holds the record."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import replace
from pathlib import Path

from kafka.future import Future

from callstream import topics
from callstream.archive_format import ArchivedRecord
from callstream.archive_gate import ArchiveGate, NotArchived
from callstream.archive_store import ArchiveStore
from callstream.settings import Settings
from tests.helpers import wait_until

Meta = namedtuple("Meta", "topic partition offset")


def rec(offset: int) -> ArchivedRecord:
    return ArchivedRecord("t", 1, offset, 0, 0, b"k", b"v")


def test_ack_waits_for_the_archive(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "a.db")
    gate = ArchiveGate(store.path)
    try:
        kfut = Future()
        out = gate.chain(kfut)
        kfut.success(Meta("t", 1, 1))
        store.append([rec(0)], {("t", 1): 1})
        # offset 1 is not archived yet: still waiting after several rounds of the watcher
        wait_until(lambda: gate._known.get(("t", 1)) == 1, what="gate saw position 1")
        assert not out.is_done
        store.append([rec(1)], {("t", 1): 2})
        wait_until(lambda: out.is_done, what="ack released")
        assert out.succeeded() and out.value == Meta("t", 1, 1)
        # an offset the archive already holds passes at once
        k2 = Future()
        o2 = gate.chain(k2)
        k2.success(Meta("t", 1, 0))
        assert o2.is_done and o2.succeeded()
    finally:
        store.close()


def test_producer_errors_pass_through_and_a_missing_archiver_fails_in_time(
    tmp_path: Path,
) -> None:
    gate = ArchiveGate(tmp_path / "never-created.db", give_up_s=0.2)
    kfut = Future()
    out = gate.chain(kfut)
    kfut.failure(RuntimeError("broker down"))
    assert out.failed() and isinstance(out.exception, RuntimeError)
    k2 = Future()
    o2 = gate.chain(k2)
    k2.success(Meta("t", 0, 0))
    wait_until(lambda: o2.is_done, timeout=5, what="gave up")
    assert o2.failed() and isinstance(o2.exception, NotArchived)
    assert "not in the archive" in str(o2.exception)


def test_ingest_answers_once_the_archive_holds_the_callback(
    settings: Settings, tmp_path: Path
) -> None:
    """With CALLSTREAM_ARCHIVE_ACK on, a callback is answered 'produced' only while an
    archiver copies the log; without one, ingest's acknowledgement timeout sends it to the
    spool (still answered 204, from there), never 204 on the broker's word alone."""
    import threading

    from callstream import kafka_clients
    from callstream.archive import Archiver
    from tests.ingest.support import call_sid, callback, post_callback, served_ingest

    s = replace(settings, archive=tmp_path / "archive.db", archive_ack=True)
    store = ArchiveStore(s.archive)
    archiver = Archiver(
        s, store, kafka_clients.TANSU if s.kafka_profile == "tansu" else kafka_clients.KAFKA
    )
    worker = threading.Thread(target=archiver.run)
    worker.start()
    try:
        with served_ingest(s, ack_timeout_s=1.0) as (app, client):
            sid = call_sid()
            assert post_callback(client, callback(sid)).status_code == 204
            assert app.state.metrics.outcome["produced"]._value.get() == 1
            archived = {r.key for r in store_records(s)}
            assert sid.encode() in archived  # in the archive before the answer
            archiver.stop()
            worker.join()
            assert post_callback(client, callback(call_sid())).status_code == 204
            assert app.state.metrics.outcome["spooled"]._value.get() == 1
    finally:
        archiver.stop()
        worker.join()
        store.close()


def store_records(s: Settings) -> list[ArchivedRecord]:
    ro = ArchiveStore(s.archive, readonly=True)
    try:
        return list(ro.records(s.topic(topics.CALL_STATUS)))
    finally:
        ro.close()
