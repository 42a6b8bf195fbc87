"""``callstream spool [list | show ID | retry ID... | retry --all | drop ID...]``: what
ingest's spool holds, and the callbacks its drain set aside because Kafka refuses them.

``retry`` produces each set-aside row to its topic now and forgets it once Kafka
acknowledged it (after the cause was fixed, for example a broker that now takes larger
records: give ``--max-request-size`` then); a row Kafka still refuses stays, with the
reason printed. ``drop`` forgets rows for good. Safe while ingest runs: SQLite's locking
keeps the two apart. (Light imports only: the CLI loads this module to build its help.)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from callstream.digits import ascii_count

ACTIONS = ("list", "show", "retry", "drop")


def _row_id(raw: str) -> int:
    row = ascii_count(raw, 18)
    if row is None:
        raise argparse.ArgumentTypeError(f"a row id is a number, not {raw[:20]!r}")
    return row


def _size(raw: str) -> int:
    size = ascii_count(raw, 10)
    if size is None or size < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of bytes, not {raw[:20]!r}")
    return size


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action", nargs="?", default="list", choices=ACTIONS, help="what to do (default: list)"
    )
    p.add_argument("ids", nargs="*", type=_row_id, metavar="ID", help="set-aside row ids")
    p.add_argument("--all", action="store_true", help="retry every set-aside row")
    p.add_argument("--json", action="store_true", help="list as JSON for scripts")
    p.add_argument("--spool", default=None, help="spool file (overrides CALLSTREAM_SPOOL)")
    p.add_argument(
        "--max-request-size",
        type=_size,
        default=None,
        help="producer limit for retry, in bytes (default 1048576)",
    )
    p.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for each acknowledgement"
    )


def run(args: argparse.Namespace) -> int:
    from callstream.errors import CliError
    from callstream.settings import Settings
    from ingest.spool import Spool

    settings = Settings.from_env(spool=args.spool)
    if args.action in ("show", "drop") and not args.ids:
        raise CliError(f"'{args.action}' needs at least one row id (see 'callstream spool')")
    if args.action == "retry" and not args.ids and not args.all:
        raise CliError("'retry' needs row ids, or --all")
    if args.action == "list" and args.ids:
        raise CliError("'list' takes no row ids; use 'show ID'")
    try:
        spool = Spool(settings.spool, create=False)
    except FileNotFoundError:
        raise CliError(
            f"no spool file at {settings.spool} (set CALLSTREAM_SPOOL or --spool)"
        ) from None
    except Exception as e:
        raise CliError(f"cannot open the spool {settings.spool}: {e}") from None
    try:
        if args.action == "list":
            return _list(spool, args.json)
        rows = spool.dead(None if args.all else args.ids)
        missing = sorted(set(args.ids) - {r.id for r in rows})
        if missing:
            raise CliError("no set-aside row with id " + ", ".join(map(str, missing)))
        if args.action == "show":
            for r in rows:
                print(f"# id {r.id} topic {r.topic} key {_text(r.key)} reason: {r.reason}")
                print(r.value.decode("utf-8", "replace"))
            return 0
        if args.action == "drop":
            spool.forget_dead([r.id for r in rows])
            print(f"dropped {len(rows)} set-aside row(s): " + ", ".join(str(r.id) for r in rows))
            return 0
        return _retry(spool, rows, settings, args)
    finally:
        spool.close()


def _list(spool: Any, as_json: bool) -> int:
    import json

    rows = spool.dead()
    depth = spool.count()
    if as_json:
        out = {
            "spool_depth": depth,
            "set_aside": [
                {
                    "id": r.id,
                    "topic": r.topic,
                    "key": _text(r.key),
                    "bytes": len(r.value),
                    "reason": r.reason,
                    "set_aside_at": r.set_aside_at,
                }
                for r in rows
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"{depth} callback(s) waiting in the spool for Kafka; {len(rows)} set aside")
    if rows:
        from projector.textfmt import table

        print(
            table(
                ["ID", "SET ASIDE AT", "TOPIC", "KEY", "BYTES", "REASON"],
                [
                    [r.id, r.set_aside_at, r.topic, _text(r.key), len(r.value), r.reason[:80]]
                    for r in rows
                ],
            )
        )
        print("retry with 'callstream spool retry ID...' (or --all); drop with 'drop ID...'")
    return 0


def _retry(spool: Any, rows: list[Any], settings: Any, args: argparse.Namespace) -> int:
    from callstream import kafka_clients
    from callstream.errors import CliError
    from callstream.reach import probe
    from ingest.producer import reason

    if not rows:
        print("nothing set aside")
        return 0
    settings.require("kafka_bootstrap_servers")
    try:
        probe(kafka_clients.bootstrap(settings), timeout_s=1.0)
        admin = kafka_clients.make_admin(settings)
        try:
            existing = set(admin.list_topics())
        finally:
            admin.close()
        missing = {r.topic for r in rows} - existing
    except Exception as e:
        raise CliError(f"cannot reach Kafka: {reason(e)}") from None
    if missing:
        raise CliError("topic(s) missing: " + ", ".join(sorted(missing)) + " (callstream topics)")
    options: dict[str, Any] = {"linger_ms": 0}
    if args.max_request_size is not None:
        options["max_request_size"] = args.max_request_size
    producer = kafka_clients.make_producer(settings, "callstream-spool-retry", **options)
    failed = 0
    try:
        for r in rows:
            try:
                kafka_clients.produce_and_wait(
                    producer, r.topic, r.value, r.key, timeout_s=args.timeout
                )
            except Exception as e:
                failed += 1
                print(f"id {r.id}: not produced: {reason(e)}", file=sys.stderr)
                continue
            spool.forget_dead([r.id])
            print(f"id {r.id}: produced to {r.topic}")
    finally:
        producer.close(timeout=5)
    return 1 if failed else 0


def _text(key: bytes | None) -> str:
    return "" if key is None else key.decode("utf-8", "replace")[:40]
