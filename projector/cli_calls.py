"""``callstream calls [--status S] [--client NAME] [--account SID] [--limit N] [--json]``:
the most recent projected calls."""

from __future__ import annotations

import argparse


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {raw!r}")
    return int(raw)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", default=None, help="only calls in this status (e.g. ringing)")
    p.add_argument(
        "--client", default=None, help="only calls where client:NAME is caller or called"
    )
    p.add_argument("--account", default=None, metavar="SID", help="only calls of this account")
    p.add_argument("--limit", type=_positive, default=20, help="at most N calls (default 20)")
    p.add_argument("--json", action="store_true", help="JSON for scripts instead of a table")
    p.add_argument("--db", default=None, help="SQLite file (overrides CALLSTREAM_DB)")


def run(args: argparse.Namespace) -> int:
    import json

    from callstream.cli import CliError
    from callstream.settings import Settings
    from projector import queries, schema
    from projector.textfmt import table

    settings = Settings.from_env(db=args.db)
    try:
        queries.check_filters(args.status, None)
        queries.check_client(args.client)
        queries.check_account(args.account)
        conn = schema.connect_readonly(settings.db)
    except (queries.QueryError, schema.SchemaError) as e:
        raise CliError(str(e)) from None
    try:
        calls = queries.recent_calls(
            conn, status=args.status, limit=args.limit, client=args.client, account=args.account
        )
    finally:
        conn.close()
    if args.json:
        print(json.dumps(calls, indent=2))
        return 0
    if not calls:
        print(
            "no calls"
            + (f" with status {args.status}" if args.status else "")
            + (f" of client:{args.client}" if args.client else "")
            + (f" of account {args.account}" if args.account else "")
        )
        return 0
    print(
        table(
            ["CALL SID", "STATUS", "DIRECTION", "FROM", "TO", "STARTED", "ENDED", "SECONDS"],
            [
                [
                    c["call_sid"],
                    c["status"],
                    c["direction"],
                    c["from_number"],
                    c["to_number"],
                    c["initiated_at"] or c["ringing_at"] or c["answered_at"],
                    c["ended_at"],
                    c["call_duration_s"],
                ]
                for c in calls
            ],
        )
    )
    return 0
