"""Which worker owns which spool file, and adopting the files no worker owns (real SQLite
files, no broker)."""

from __future__ import annotations

from pathlib import Path

from ingest.spool import Spool
from ingest.workers_spool import adopt_orphans, orphans, worker_spool


def make(path: Path, n: int, tag: str, dead: int = 0) -> None:
    s = Spool(path)
    s.append_many([("t", f"{tag}{i}".encode(), f"v{tag}{i}".encode()) for i in range(n)])
    if dead:
        s.set_aside([(r, "too large") for r in s.oldest(dead)])
    s.close()


def test_worker_spool_names(tmp_path: Path) -> None:
    base = tmp_path / "callstream-spool.db"
    assert worker_spool(base, 0, 1) == base
    assert worker_spool(base, 1, 3) == tmp_path / "callstream-spool.w1.db"


def test_orphans_are_shared_out_and_none_is_left(tmp_path: Path) -> None:
    base = tmp_path / "spool.db"
    for j in range(5):
        make(worker_spool(base, j, 5), 1, f"w{j}")
    make(base, 1, "single")
    (tmp_path / "spool.w9.db-wal").write_bytes(b"")  # not a spool file: ignored
    (tmp_path / "other.w1.db").write_bytes(b"")
    two = [orphans(base, i, 2) for i in range(2)]
    assert two == [
        [base, tmp_path / "spool.w2.db", tmp_path / "spool.w4.db"],
        [tmp_path / "spool.w3.db"],
    ]
    assert orphans(base, 0, 1) == [tmp_path / f"spool.w{j}.db" for j in range(5)]
    assert orphans(base, 0, 5) == [base]
    assert orphans(base, 3, 5) == []


def test_adopt_moves_every_row_in_order_and_removes_the_file(tmp_path: Path) -> None:
    base = tmp_path / "spool.db"
    make(base, 3, "own", dead=1)  # ids 1-3, id 1 set aside
    make(worker_spool(base, 2, 3), 5, "orphan", dead=2)
    own = Spool(base)
    try:
        assert adopt_orphans(own, base, 0, 1) == 5
        assert not worker_spool(base, 2, 3).exists()
        assert [k for _, _, k, _ in own.oldest(100)] == [
            b"own1",
            b"own2",
            b"orphan2",
            b"orphan3",
            b"orphan4",
        ]
        dead = own.dead()
        assert [d.key for d in dead] == [b"own0", b"orphan0", b"orphan1"]
        assert all(d.reason == "too large" for d in dead)
        # no later spool row can take a set-aside row's id
        own.append_many([("t", b"new", b"v")])
        ids = [r[0] for r in own.oldest(100)] + [d.id for d in dead]
        assert len(ids) == len(set(ids))
    finally:
        own.close()
