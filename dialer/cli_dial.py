"""``callstream dial``: validate one outbound call request and put it on ``dialer.requests``
(keyed by AccountSid); print its id."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to", required=True, metavar="N", help="the number to call, E.164 (+14155550100)"
    )
    p.add_argument(
        "--from", dest="from_", required=True, metavar="N", help="your Twilio number, E.164"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--url", metavar="U", help="TwiML URL Twilio fetches when the call connects")
    what.add_argument("--twiml", metavar="X", help="inline TwiML for the call")
    p.add_argument(
        "--account",
        default=None,
        metavar="SID",
        help=(
            "the account that places the call "
            "(default TWILIO_ACCOUNT_SID, else the first in CALLSTREAM_ACCOUNTS)"
        ),
    )
    p.add_argument("--id", default=None, help="request id (idempotency key); default: new")
    p.add_argument("--bootstrap-servers", default=None, help="overrides KAFKA_BOOTSTRAP_SERVERS")


def run(args: argparse.Namespace) -> int:
    from callstream import kafka_clients, topics
    from callstream.dialrequest import DialRequestError, from_input
    from callstream.errors import CliError
    from callstream.ids import is_account_sid
    from callstream.reach import require_broker, source_of
    from callstream.settings import Settings, SettingsError

    settings = Settings.from_env(kafka_bootstrap_servers=args.bootstrap_servers)
    account = args.account
    if settings.accounts_file:  # a bad file is one line, whichever account is dialed
        from callstream.accounts import require_accounts

        first = require_accounts(settings)[0].sid
        if account is None and settings.twilio_account_sid is None:
            account = first  # the default account: the file's first
    if account is None:
        settings.require("twilio_account_sid")
        account = settings.twilio_account_sid
    elif not is_account_sid(account):
        raise SettingsError(
            f"--account {account[:40]!r} is not an account SID ('AC' and 32 hex digits)"
        )
    assert account is not None
    body: dict[str, object] = {"to": args.to, "from": args.from_}
    if args.url is not None:
        body["url"] = args.url
    else:
        body["twiml"] = args.twiml
    if args.id is not None:
        body["id"] = args.id
    try:
        req = from_input(body, account)
    except DialRequestError as e:
        raise SettingsError(str(e)) from None
    require_broker(kafka_clients.bootstrap(settings), source_of(args))
    producer = kafka_clients.make_producer(settings, "callstream-dial", linger_ms=0)
    try:
        kafka_clients.produce_and_wait(
            producer,
            settings.topic(topics.DIALER_REQUESTS),
            req.to_json(),
            req.account_sid.encode(),
            timeout_s=15,
        )
    except Exception as e:
        raise CliError(f"could not enqueue the request: {type(e).__name__}: {e}") from None
    finally:
        producer.close(timeout=5)
    print(req.id)
    return 0
