"""``callstream projector [--db F] [--host H] [--port P]``: consumer plus query API."""

from __future__ import annotations

import argparse

from callstream.cliargs import port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, help="SQLite file (overrides CALLSTREAM_DB)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port, default=8081, help="port to listen on (default 8081)")


def run(args: argparse.Namespace) -> int:
    import sqlite3
    import sys

    from callstream import kafka_clients, logs
    from callstream.cli import CliError
    from callstream.settings import Settings
    from projector import schema
    from projector.schema import SchemaError

    settings = Settings.from_env(db=args.db)
    logs.configure("projector", settings.log_level)
    bootstrap = kafka_clients.bootstrap(settings)  # one clear line when no broker is configured
    from kafka.errors import KafkaError

    from callstream.reach import hint, require_broker
    from projector.service import run_service

    try:
        # the database first (a wrong file is refused at once, whatever the broker does),
        # then the broker: an absent one is one line with a hint, not a silent wait
        schema.open_db(settings.db).close()
        require_broker(bootstrap)
        outcome = run_service(settings, args.host, args.port, settings.db)
    except SchemaError as e:
        raise CliError(str(e)) from None
    except sqlite3.Error as e:  # e.g. a read-only or full file system
        raise CliError(f"cannot use the database {settings.db}: {e}") from None
    except KafkaError as e:
        raise CliError(f"{hint(bootstrap)} ({type(e).__name__}: {e})") from None
    if outcome.fatal:
        print(f"callstream projector: error: {outcome.fatal}", file=sys.stderr)
        return 1
    return 0
