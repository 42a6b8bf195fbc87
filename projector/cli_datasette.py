"""``callstream datasette [--db F] [--host H] [--port P]``: browse the live database.

Datasette opens the file read-only and *not* immutable (the projector keeps writing it; WAL
lets both run), with callstream's metadata (newest calls first, facets, canned queries)
and long cells such as ``params`` cut short in tables. Datasette is an optional extra:
``pip install 'callstream[datasette]'``.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

from callstream.cliargs import port, require_free_port

METADATA = "datasette.yaml"
TEMPLATE_DB = "callstream"
# characters of a cell shown in a table (a call's params JSON is about 1,500)
TRUNCATE_CELLS = 80
# the calls table's columns to look at first; the others stay a click away
FIRST_COLUMNS = (
    "status",
    "direction",
    "from_number",
    "to_number",
    "started_at",
    "answered_at",
    "ended_at",
    "call_duration_s",
    "events_count",
)


def calls_path(db_name: str) -> str:
    """The calls table, newest first, with the columns to look at first."""
    return f"/{db_name}/calls?" + "&".join(f"_col={c}" for c in FIRST_COLUMNS)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, help="SQLite file (overrides CALLSTREAM_DB)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=8001, help="port to listen on (default 8001)")


def metadata_for(db: Path) -> dict[str, Any]:
    """The shipped metadata, keyed by the name Datasette gives ``db`` (the file's stem)."""
    import yaml

    text = resources.files("projector").joinpath(METADATA).read_text()
    name = db.stem
    meta: dict[str, Any] = yaml.safe_load(text.replace(f"/{TEMPLATE_DB}/", f"/{name}/"))
    meta["databases"] = {name: meta["databases"][TEMPLATE_DB]}
    link = calls_path(name).replace("&", "&amp;")
    meta["description_html"] = meta["description_html"].replace("NEWEST_CALLS", link)
    return meta


def command(db: Path, metadata: Path, host: str, port: int) -> list[str]:
    import sys

    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(db),  # not -i/--immutable: the file changes while Datasette reads it
        "--metadata",
        str(metadata),
        "--setting",
        "truncate_cells_html",
        str(TRUNCATE_CELLS),
        "--host",
        host,
        "--port",
        str(port),
    ]


def run(args: argparse.Namespace) -> int:
    import importlib.util
    import json
    import signal
    import subprocess
    import sys
    import tempfile

    from callstream.errors import CliError
    from callstream.procs import child_preexec
    from callstream.settings import Settings
    from projector import schema

    settings = Settings.from_env(db=args.db)
    if importlib.util.find_spec("datasette") is None:
        raise CliError("Datasette is not installed: pip install 'callstream[datasette]'")
    db = Path(settings.db)
    try:
        schema.connect_readonly(db).close()  # one clear line for a missing or foreign file
    except schema.SchemaError as e:
        raise CliError(str(e)) from None
    require_free_port(args.host, args.port)
    with tempfile.TemporaryDirectory(prefix="callstream-datasette-") as tmp:
        meta = Path(tmp) / "metadata.json"
        meta.write_text(json.dumps(metadata_for(db)))
        print(
            f"datasette on http://{args.host}:{args.port}{calls_path(db.stem)} "
            "(read-only, newest calls first); Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        # The server dies with this process (even on SIGKILL) and sits in a process group
        # of its own: Ctrl-C and SIGTERM reach this process, which stops it and then
        # removes the metadata file.
        proc = subprocess.Popen(
            command(db, meta, args.host, args.port),
            preexec_fn=child_preexec(),  # noqa: PLW1509 (no threads yet in this process)
        )
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
