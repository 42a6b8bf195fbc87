"""``callstream accounts``: the accounts callstream knows, configured and discovered
(sid, name, parent, cps, source, status), as a table or ``--json``. Never a token."""

from __future__ import annotations

import argparse
import json
import logging
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    p.add_argument(
        "--no-discovery",
        action="store_true",
        help="list only the configured accounts (do not ask Twilio for their subaccounts)",
    )
    p.add_argument("--accounts", default=None, help="overrides CALLSTREAM_ACCOUNTS (a TOML file)")


def run(args: argparse.Namespace) -> int:
    from callstream.accounts import require_accounts
    from callstream.settings import Settings
    from callstream.subaccounts import AccountBook, twilio_lister

    settings = Settings.from_env(accounts_file=args.accounts)
    configured = require_accounts(settings)
    lister = None if args.no_discovery else twilio_lister(settings.twilio_api_url)
    book = AccountBook(configured, lister)
    logging.getLogger("callstream.accounts").setLevel(logging.ERROR)  # said below instead
    book.refresh()
    for sid, why in book.errors.items():  # the configured accounts are still listed
        print(
            f"callstream accounts: warning: cannot list the subaccounts of {sid}: {why}",
            file=sys.stderr,
        )
    rows = [a.public(settings.cps) for a in book.all()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ("sid", "friendly_name", "parent_sid", "cps", "source", "status")
    table = [[c.replace("_sid", "").replace("friendly_", "") for c in cols]] + [
        ["-" if r[c] is None else f"{r[c]:g}" if c == "cps" else str(r[c]) for c in cols]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0
