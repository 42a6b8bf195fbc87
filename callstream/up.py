"""``callstream up``: the whole product on one machine.

Starts the embedded broker (unless ``KAFKA_BOOTSTRAP_SERVERS`` is set), creates the topics,
then runs the emulator (unless real Twilio credentials and a public URL are configured),
the projector, ingest, the dialer and the reconciler as child processes, waits until each
answers ``/readyz``, prints the URLs and a "try this", and supervises them: if one dies, all
stop with its last log lines. Ctrl-C or SIGTERM stops the children in order (reconciler,
dialer, ingest, projector, archiver, emulator, broker) and leaves no process behind:
children are also tied to this process with PR_SET_PDEATHSIG, so even a SIGKILL of
``callstream up`` takes them down.

On the embedded broker (memory only) it also keeps the log's history: before any service
starts it restores the archive of the earlier runs into the fresh broker
(:mod:`callstream.up_history`), then runs the archiver beside the services, and ingest
answers ``204`` only once the archive holds the callback (``CALLSTREAM_ARCHIVE_ACK``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from callstream.cliargs import sink_url
from callstream.cliargs import workers as ingest_workers
from callstream.up_guard import LogGrowth

DEFAULT_PORTS = {
    "ingest": 8080,
    "projector": 8081,
    "dialer": 8082,
    "archive": 8083,
    "reconciler": 8084,
    "emulator": 8099,
}
# the archiver stops after everything that writes to the log, so it copies all of it
STOP_ORDER = ("reconciler", "dialer", "ingest", "projector", "archive", "emulator")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default="127.0.0.1", help="address the services bind (default 127.0.0.1)"
    )
    for name, port in DEFAULT_PORTS.items():
        p.add_argument(f"--{name}-port", type=int, default=port, help=f"default {port}")
    p.add_argument(
        "--broker-port", type=int, default=None, help="embedded broker port (default: free)"
    )
    p.add_argument("--logs", default="callstream-logs", help="folder for the services' log files")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="emulator time compression (default 1; 3 with --demo)",
    )
    p.add_argument("--demo", action="store_true", help="place a few calls and show them live")
    p.add_argument("--verbose", action="store_true", help="also show the services' logs here")
    p.add_argument(
        "--ingest-workers",
        type=ingest_workers,
        default=1,
        help="ingest processes (callstream ingest --workers; default 1)",
    )
    p.add_argument(
        "--event-sink",
        metavar="URL",
        type=sink_url,
        default=None,
        help="the emulator mirrors call-progress callbacks as Event Streams CloudEvents to URL "
        "(e.g. ingest's <public URL>/twilio/events)",
    )


@dataclass
class Child:
    name: str
    argv: list[str]
    host: str
    port: int
    proc: Any = None
    log: IO[bytes] | None = None
    log_path: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from callstream import kafka_clients
    from callstream.broker import EmbeddedBroker
    from callstream.settings import Settings

    settings = Settings.from_env()
    # a bad accounts file is one line before anything starts, not a child's failure later
    from callstream.accounts import configured_accounts

    configured_accounts(settings)
    if settings.kafka_bootstrap_servers:  # a named broker: one line at once if it is silent,
        from callstream.reach import require_broker  # not a Kafka client's timeout later

        require_broker(settings.kafka_bootstrap_servers)
    env = dict(os.environ)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    broker: EmbeddedBroker | None = None
    children: list[Child] = []
    embedded = not settings.kafka_bootstrap_servers
    logs_dir = Path(args.logs)
    logs_dir.mkdir(parents=True, exist_ok=True)
    env_file: Path | None = None
    try:
        if not settings.kafka_bootstrap_servers:
            broker = EmbeddedBroker(port=args.broker_port, log_path=logs_dir / "broker.log")
            bootstrap = broker.start()
            env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            env.setdefault("CALLSTREAM_KAFKA_PROFILE", "tansu")
            env.setdefault("CALLSTREAM_ARCHIVE_ACK", "1")  # 0: measure without the gate
            say(f"broker     {bootstrap}  (embedded, in memory; the log is kept in the archive)")
        else:
            bootstrap = settings.kafka_bootstrap_servers
            say(f"broker     {bootstrap}")
        settings = Settings.from_env(env)
        kafka_clients.ensure_topics(settings)
        if embedded:
            from callstream.up_history import restore_history

            restore_history(settings, env, say)

        emulated = _twilio_env(settings, env, args)
        children = _plan(args, emulated, archive=embedded)
        for child in children:
            _check_port_free(args.host, child)
        for child in children:
            _start(child, env, logs_dir, args.verbose)
            _wait_ready(child, stop, broker)
            say(f"{child.name:<10} {child.url}")
        env_file = Path("callstream-up.env")
        _write_env_file(env, env_file)
        _print_try_this(env, children, emulated)
        if args.demo:
            from callstream.demo import run_demo

            threading.Thread(target=run_demo, args=(env, children, stop), daemon=True).start()
        growth = LogGrowth(settings.archive, say) if embedded else None
        return _supervise(children, broker, stop, growth)
    finally:
        _stop_all(children)
        if broker is not None:
            broker.kill()
        if env_file is not None:
            # a shell that sources it later would point every command at a dead broker
            env_file.unlink(missing_ok=True)
        say("stopped")


def _twilio_env(settings: Any, env: dict[str, str], args: argparse.Namespace) -> bool:
    """Point the services at real Twilio when it is fully configured, else at the emulator."""
    import secrets

    accounts = settings.accounts_file or (
        settings.twilio_account_sid and settings.twilio_auth_token
    )
    real = bool(accounts and settings.public_url)
    if real and "TWILIO_API_URL" not in os.environ:
        say("twilio     real Twilio (credentials and CALLSTREAM_PUBLIC_URL are set)")
        return False
    if settings.accounts_file is None:  # else the emulator serves the file's accounts
        env.setdefault("TWILIO_ACCOUNT_SID", "AC" + secrets.token_hex(16))
        env.setdefault("TWILIO_AUTH_TOKEN", secrets.token_hex(16))
    env["TWILIO_API_URL"] = f"http://{args.host}:{args.emulator_port}"
    env["CALLSTREAM_PUBLIC_URL"] = f"http://{args.host}:{args.ingest_port}"
    return True


def _plan(args: argparse.Namespace, emulated: bool, archive: bool) -> list[Child]:
    base = [sys.executable, "-m", "callstream"]
    out: list[Child] = []
    if emulated:
        argv = [*base, "emulator", "--host", args.host, "--port", str(args.emulator_port)]
        speed = args.speed if args.speed is not None else (3.0 if args.demo else 1.0)
        if speed != 1.0:
            argv += ["--speed", str(speed)]
        if args.event_sink:
            argv += ["--event-sink", args.event_sink]
        if args.demo:
            from callstream.demo import scenario_file

            argv += ["--scenarios", str(scenario_file(Path(args.logs)))]
        out.append(Child("emulator", argv, args.host, args.emulator_port))
    # the archiver first: ingest's answers wait for it
    for name in ("archive", "projector", "ingest", "dialer", "reconciler"):
        if name == "archive" and not archive:
            continue
        port = getattr(args, f"{name}_port")
        out.append(
            Child(name, [*base, name, "--host", args.host, "--port", str(port)], args.host, port)
        )
        if name == "ingest" and getattr(args, "ingest_workers", 1) > 1:
            out[-1].argv += ["--workers", str(args.ingest_workers)]
    return out


def _check_port_free(host: str, child: Child) -> None:
    import socket

    from callstream.cli import CliError

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, child.port))
        except OSError:
            raise CliError(
                f"port {child.port} on {host} is in use; pass --{child.name}-port with a free one"
            ) from None


def _start(child: Child, env: dict[str, str], logs_dir: Path, verbose: bool) -> None:
    import subprocess

    from callstream.procs import child_preexec

    child.log_path = logs_dir / f"{child.name}.log"
    child.log = open(child.log_path, "ab")  # noqa: SIM115 - closed in _stop_all
    child.proc = subprocess.Popen(
        child.argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=child.log,
        stderr=None if verbose else child.log,
        preexec_fn=child_preexec(),  # noqa: PLW1509
    )


def _wait_ready(child: Child, stop: threading.Event, broker: Any, timeout_s: float = 60) -> None:
    import httpx

    from callstream.cli import CliError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        if child.proc.poll() is not None:
            raise CliError(f"{child.name} exited while starting:\n{_tail(child)}")
        try:
            if httpx.get(child.url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    if stop.is_set():
        raise KeyboardInterrupt
    raise CliError(f"{child.name} did not become ready within {timeout_s:.0f} s:\n{_tail(child)}")


def _supervise(
    children: list[Child], broker: Any, stop: threading.Event, growth: LogGrowth | None = None
) -> int:
    while not stop.wait(0.5):
        if growth is not None:
            growth.check()
        if broker is not None and not broker.alive():
            say("the embedded broker stopped unexpectedly; stopping everything")
            return 1
        for child in children:
            if child.proc.poll() is not None:
                say(f"{child.name} exited with status {child.proc.returncode}; stopping everything")
                say(_tail(child))
                return 1
    return 0


def _stop_all(children: list[Child]) -> None:
    by_name = {c.name: c for c in children}
    for name in STOP_ORDER:
        child = by_name.get(name)
        if child is None or child.proc is None:
            continue
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout=15)
            except Exception:
                child.proc.kill()
                child.proc.wait()
        if child.log is not None:
            child.log.close()


def _tail(child: Child, lines: int = 12) -> str:
    try:
        text = child.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


ENV_FILE_KEYS = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "CALLSTREAM_KAFKA_PROFILE",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_URL",
    "CALLSTREAM_PUBLIC_URL",
    "CALLSTREAM_DB",
)


def _write_env_file(env: dict[str, str], path: Path) -> None:
    """Everything another terminal needs to talk to this run (no secrets)."""
    lines = [f"export {k}={env[k]}" for k in ENV_FILE_KEYS if env.get(k)]
    path.write_text(
        "# written by 'callstream up'; source it in another terminal\n" + "\n".join(lines) + "\n"
    )


def _cli_name() -> str:
    """How to call ``callstream`` from another terminal: the bare name when it is on PATH,
    else the script beside this interpreter (e.g. ``.venv/bin/callstream``)."""
    import shutil

    script = Path(sys.executable).with_name("callstream")
    found = shutil.which("callstream")
    if not script.exists() or (found and Path(found).resolve() == script.resolve()):
        return "callstream"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _print_try_this(env: dict[str, str], children: list[Child], emulated: bool) -> None:
    proj = next(c for c in children if c.name == "projector")
    cs = _cli_name()
    say("")
    say("ready. Try this in another terminal, in this folder:")
    say("  . ./callstream-up.env")
    say(
        f"  {cs} dial --to +15005550006 --from +15005550001 "
        "--twiml '<Response><Say>Hello from callstream</Say></Response>'"
    )
    say(f"  {cs} calls")
    if env.get("CALLSTREAM_API_TOKEN"):  # the query routes need it; the token is not printed
        say(f'  curl -s -H "Authorization: Bearer $CALLSTREAM_API_TOKEN" {proj.url}/stats')
    else:
        say(f"  curl -s {proj.url}/stats")
    if emulated:
        say(
            "Twilio is emulated locally; set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or "
            "CALLSTREAM_ACCOUNTS) and CALLSTREAM_PUBLIC_URL to use real Twilio."
        )
    say("Ctrl-C stops everything.")
