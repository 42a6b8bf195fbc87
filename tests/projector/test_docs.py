"""The canned Datasette queries shipped in the package (projector/datasette.yaml) run
against a projected database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from projector.cli_datasette import metadata_for
from projector.store import Store
from tests.projector.support import callback, sid

DOC = Path(__file__).resolve().parents[2] / "docs" / "projector.md"


def test_canned_queries_run(tmp_path: Path) -> None:
    meta = metadata_for(Path("callstream.db"))
    queries = meta["databases"]["callstream"]["queries"]
    for name in queries:
        assert f"`{name}`" in DOC.read_text(), f"docs/projector.md does not list {name}"
    assert {"stuck_ringing", "answer_rate_by_hour"} <= set(queries)
    st = Store(tmp_path / "c.db", "t")
    st.apply(
        [
            (0, 0, callback(sid(1), 1, "ringing", 0)),  # 2026-09-21: long ago
            (0, 1, callback(sid(2), 0, "completed", 5, CallDuration="3")),
            (0, 2, callback(sid(3), 1, "in-progress", 7)),
        ]
    )
    st.close()
    with sqlite3.connect(tmp_path / "c.db") as conn:
        results = {name: conn.execute(q["sql"]).fetchall() for name, q in queries.items()}
    assert [r[0] for r in results["stuck_ringing"]] == [sid(1)]
    assert results["answer_rate_by_hour"][0][1:] == (1, 1, 1.0)
