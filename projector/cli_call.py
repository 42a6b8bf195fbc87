"""``callstream call SID [--json]``: one projected call with its events and child legs."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sid", metavar="SID", help="the CallSid (CA...)")
    p.add_argument("--json", action="store_true", help="JSON for scripts instead of text")
    p.add_argument("--db", default=None, help="SQLite file (overrides CALLSTREAM_DB)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from callstream.cli import CliError
    from callstream.settings import Settings
    from projector import queries, schema
    from projector.fold import CALL_COLUMNS
    from projector.textfmt import cell, table

    settings = Settings.from_env(db=args.db)
    try:
        conn = schema.connect_readonly(settings.db)
    except schema.SchemaError as e:
        raise CliError(str(e)) from None
    try:
        call = queries.get_call(conn, args.sid)
    finally:
        conn.close()
    if call is None:
        print(f"callstream call: error: no call {args.sid} in {settings.db}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(call, indent=2, ensure_ascii=False))
        return 0
    width = max(len(c) for c in CALL_COLUMNS)
    for col in CALL_COLUMNS:
        print(f"{col.ljust(width)}  {cell(call[col])}")
    print()
    print(
        table(
            ["SEQ", "STATUS", "TIMESTAMP", "RECEIVED AT", "PARTITION", "OFFSET"],
            [
                [
                    e["sequence_number"],
                    e["status"],
                    e["timestamp"],
                    e["received_at"],
                    e["partition"],
                    e["offset"],
                ]
                for e in call["events"]
            ],
        )
    )
    if call["children"]:
        print()
        print("children: " + ", ".join(call["children"]))
    return 0
