"""``callstream emulator``: flags and entry point (light imports at module level)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from callstream.cliargs import port, require_free_port, sink_url

if TYPE_CHECKING:
    from emulator.config import EmulatorConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8099


def _probability(raw: str) -> float:
    v = float(raw)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{raw} is not a probability between 0 and 1")
    return v


def _non_negative(raw: str) -> float:
    v = float(raw)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{raw} must not be negative")
    return v


def _positive(raw: str) -> float:
    v = float(raw)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{raw} must be above 0")
    return v


def _batch_size(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a batch size (1 or more)")
    return int(raw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--cps",
        type=_positive,
        default=None,
        help="calls per second per account (default CALLSTREAM_CPS, else 1)",
    )
    parser.add_argument(
        "--speed",
        type=_positive,
        default=1.0,
        help="compress simulated call time by this factor (default 1)",
    )
    parser.add_argument(
        "--scenarios",
        metavar="FILE",
        default=None,
        help="scenario file (.json or .toml) mapping numbers to outcomes",
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="SID:TOKEN",
        help="another main account beside TWILIO_ACCOUNT_SID (repeatable); "
        "each has its own token and CPS queue",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for call SIDs, chaos and fault fractions"
    )
    chaos = parser.add_argument_group("chaos (status callbacks; all off by default)")
    chaos.add_argument(
        "--chaos-duplicate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="chance a callback is delivered twice",
    )
    chaos.add_argument(
        "--chaos-reorder",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="deliver each callback after a random delay up to SECONDS",
    )
    chaos.add_argument(
        "--chaos-drop",
        type=_probability,
        default=0.0,
        metavar="P",
        help="chance a callback is never delivered",
    )
    chaos.add_argument(
        "--chaos-connect-fail",
        type=_probability,
        default=0.0,
        metavar="P",
        help="chance each delivery attempt fails as a refused connection",
    )
    chaos.add_argument(
        "--chaos-latency",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="extra delay before each delivery attempt",
    )
    sink = parser.add_argument_group("Event Streams (docs/event-streams.md)")
    sink.add_argument(
        "--event-sink",
        metavar="URL",
        default=None,
        type=sink_url,
        help="mirror each call-progress callback as CloudEvents to this webhook sink",
    )
    sink.add_argument(
        "--event-sink-lose-first",
        action="store_true",
        help="lose the first delivery attempt of every batch (the retry delivers it)",
    )
    sink.add_argument(
        "--event-sink-duplicate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="chance a delivered batch is delivered again",
    )
    sink.add_argument(
        "--event-sink-reorder",
        action="store_true",
        help="shuffle waiting events before cutting them into batches",
    )
    sink.add_argument(
        "--event-sink-batch",
        type=_batch_size,
        default=10,
        metavar="N",
        help="most events in one delivery (default 10)",
    )
    faults = parser.add_argument_group("REST create faults (also POST /emulator/faults)")
    faults.add_argument(
        "--fault-create-429",
        type=int,
        default=0,
        metavar="N",
        help="answer the next N creates with 429 (20429)",
    )
    faults.add_argument(
        "--fault-create-500",
        type=int,
        default=0,
        metavar="N",
        help="answer the next N creates with 500 (20500), call not created",
    )
    faults.add_argument(
        "--fault-create-500-created",
        type=int,
        default=0,
        metavar="N",
        help="create the call, then answer 500 (the in-doubt case), N times",
    )
    faults.add_argument(
        "--fault-create-503",
        type=int,
        default=0,
        metavar="N",
        help="answer the next N creates with 503 (20503)",
    )
    faults.add_argument(
        "--fault-create-429-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="answer this fraction of creates with 429",
    )
    faults.add_argument(
        "--fault-create-500-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="answer this fraction of creates with 500",
    )


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    from dataclasses import replace

    from callstream.accounts import require_accounts, require_settings
    from callstream.settings import Settings, SettingsError
    from emulator.accounts import parse_account_flags
    from emulator.chaos import Chaos
    from emulator.config import EmulatorConfig
    from emulator.event_sink import SinkChaos, SinkConfig
    from emulator.faults import FaultSettings
    from emulator.scenarios import ScenarioError, Scenarios

    settings = Settings.from_env()
    require_settings(settings)  # the TWILIO_* shortcut, or an accounts file
    # the main account: the shortcut's, else the accounts file's first (read from the file,
    # never from a command line, where ``ps`` would show the tokens); the file's others are
    # added as further accounts, so the emulator knows every account the services serve
    file_accounts = require_accounts(settings)
    main = file_accounts[0]
    settings = replace(settings, twilio_account_sid=main.sid, twilio_auth_token=main.auth_token)
    assert settings.twilio_account_sid is not None and settings.twilio_auth_token is not None
    try:
        scenarios = Scenarios.load(args.scenarios) if args.scenarios else Scenarios()
        faults = FaultSettings(
            create_429=args.fault_create_429,
            create_500=args.fault_create_500,
            create_500_created=args.fault_create_500_created,
            create_503=args.fault_create_503,
            create_429_rate=args.fault_create_429_rate,
            create_500_rate=args.fault_create_500_rate,
        )
        extra_accounts = parse_account_flags(args.account, settings.twilio_account_sid)
    except (ScenarioError, ValueError) as e:
        raise SettingsError(str(e)) from None
    for acct in file_accounts[1:]:
        extra_accounts.setdefault(acct.sid, acct.auth_token)
    return EmulatorConfig(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        cps=args.cps if args.cps is not None else settings.cps,
        speed=args.speed,
        scenarios=scenarios,
        chaos=Chaos(
            duplicate=args.chaos_duplicate,
            reorder=args.chaos_reorder,
            drop=args.chaos_drop,
            connect_fail=args.chaos_connect_fail,
            latency=args.chaos_latency,
        ),
        event_sink=None
        if args.event_sink is None
        else SinkConfig(
            args.event_sink,
            SinkChaos(
                lose_first=args.event_sink_lose_first,
                duplicate=args.event_sink_duplicate,
                reorder=args.event_sink_reorder,
                batch_size=args.event_sink_batch,
            ),
        ),
        faults=faults,
        seed=args.seed,
        extra_accounts=extra_accounts,
    )


def run(args: argparse.Namespace) -> int:
    from callstream import logs
    from callstream.settings import Settings
    from callstream.web import serve
    from emulator.app import create_app

    config = build_config(args)
    require_free_port(args.host, args.port)
    logs.configure("emulator", Settings.from_env().log_level)
    serve(create_app(config), args.host, args.port, "emulator")
    return 0
