"""Every subcommand of ``callstream`` against a table of everyday mistakes: one line on
stderr, a non-zero exit, never a traceback, never a hang.

The cases are built from ``callstream.cli.COMMANDS`` and each command's own flags, so a new
command is covered by the generic cases without being listed here: an unknown flag (answered
with the subcommand's usage), nothing configured, an unreachable broker, a ``--db`` that is
not a database, a bad ``--port``. Service commands are never run for real: they get only the
cases that must stop them before they start.
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callstream.cli import COMMANDS
from projector.store import Store

ACCOUNT = "AC" + "0" * 32
# commands that legitimately start with nothing configured (they bring their own broker)
STARTS_UNCONFIGURED = {"up", "broker"}
# ingest accepts callbacks while Kafka is down (its spool): an absent broker is not an error
RUNS_WITHOUT_BROKER = {"ingest", "up", "broker", "emulator", "accounts"}  # accounts: no Kafka
FILL = {
    "sid": "CA" + "0" * 32,
    "to": "+15005550006",
    "from_": "+15005550001",
    "url": "https://example.com/twiml",
    "identity": "alice",
}


def dead_address() -> str:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


DEAD = dead_address()
CONFIGURED = {
    "TWILIO_ACCOUNT_SID": ACCOUNT,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "CALLSTREAM_PUBLIC_URL": "https://hooks.example.com",
    "KAFKA_BOOTSTRAP_SERVERS": DEAD,
}


def parser_of(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"callstream {name}")
    importlib.import_module(COMMANDS[name][0]).add_arguments(p)
    return p


def flags(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def is_service(p: argparse.ArgumentParser) -> bool:
    return any(f == "--port" or f.endswith("-port") for f in flags(p))


def needed(p: argparse.ArgumentParser, db: str) -> list[str]:
    """Arguments that satisfy the parser's required ones with plausible values."""
    out: list[str] = []
    chosen = set()
    for group in p._mutually_exclusive_groups:
        if group.required:
            chosen.add(id(group._group_actions[0]))
    for a in p._actions:
        value = db if a.dest == "db" else FILL.get(a.dest, "x")
        if not a.option_strings and a.nargs not in ("?", "*"):
            out.append(value)
        elif a.option_strings and (a.required or id(a) in chosen):
            out += [a.option_strings[-1], value]
    return out


@dataclass
class Case:
    name: str
    kind: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    usage: bool = False  # argparse's answer: the subcommand's usage, then one error line
    says: str = ""  # a part of the error line
    status: int | None = None  # None: any non-zero


def cases() -> list[Case]:
    out: list[Case] = []
    for name in COMMANDS:
        p = parser_of(name)
        fl = flags(p)
        service = is_service(p)
        missing_db = "missing.db"
        base = needed(p, missing_db)
        out.append(
            Case(
                name,
                "unknown-flag",
                [*base, "--no-such-flag"],
                CONFIGURED,
                usage=True,
                says="unrecognized arguments: --no-such-flag",
                status=2,
            )
        )
        if name not in STARTS_UNCONFIGURED:
            out.append(Case(name, "nothing-configured", base))
        if name not in RUNS_WITHOUT_BROKER and (
            not service or "--db" in fl or "--bootstrap-servers" in fl
        ):
            kafka = "--bootstrap-servers" in fl or name in ("projector", "rebuild", "dialer")
            hint = f"cannot reach Kafka at {DEAD}" if kafka else ""
            db = "new.db" if name == "rebuild" else missing_db
            out.append(Case(name, "broker-unreachable", needed(p, db), CONFIGURED, says=hint))
            if "--bootstrap-servers" in fl:
                env = {k: v for k, v in CONFIGURED.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
                out.append(
                    Case(
                        name,
                        "broker-flag-unreachable",
                        [*needed(p, db), "--bootstrap-servers", DEAD],
                        env,
                        says="(--bootstrap-servers)",
                    )
                )
        if "--db" in fl and name != "up":
            for kind, db in (("db-not-sqlite", "notdb.txt"), ("db-directory", "adir")):
                out.append(
                    Case(
                        name,
                        kind,
                        needed(p, db) + (["--db", db] if "--db" not in needed(p, db) else []),
                        CONFIGURED,
                    )
                )
        if "--port" in fl:
            for bad in ("0", "65536", "x"):
                args = [*base, "--port", bad]
                out.append(Case(name, f"port-{bad}", args, CONFIGURED, usage=True, status=2))
    return out


SPECIFIC = [
    Case("calls", "limit-0", ["--limit", "0"], usage=True, says="--limit", status=2),
    Case("calls", "status-bogus", ["--status", "bogus", "--db", "live.db"], says="bogus"),
    Case("call", "unknown-sid", ["CA" + "f" * 32, "--db", "live.db"], status=1, says="no call"),
    *(
        Case(
            "dial",
            kind,
            ["--to", to, "--from", "+15005550001", "--url", url],
            CONFIGURED,
            says=says,
            status=2,
        )
        for kind, to, url, says in (
            ("to-not-e164", "123", "https://e.example/t", "E.164"),
            ("url-not-http", "+15005550006", "ftp://e.example/t", "http"),
        )
    ),
    Case(
        "topics",
        "bootstrap-no-port",
        ["--bootstrap-servers", "localhost"],
        status=2,
        says="KAFKA_BOOTSTRAP_SERVERS",
    ),
    Case("rebuild", "db-exists", ["--db", "live.db"], CONFIGURED, says="already exists", status=2),
    Case(
        "rebuild",
        "db-in-missing-dir",
        ["--db", "no/such/dir/new.db"],
        CONFIGURED,
        says="does not exist",
        status=2,
    ),
    Case("datasette", "db-foreign", ["--db", "foreign.db"], says="not a callstream", status=2),
    # an accounts file that is not there: one line naming it, before anything starts
    *(
        Case(
            name,
            "accounts-file-missing",
            args,
            {**CONFIGURED, "CALLSTREAM_ACCOUNTS": "no-such-accounts.toml"},
            says="no-such-accounts.toml: no such file",
            status=2,
        )
        for name, args in (
            ("up", []),
            ("ingest", []),
            ("dialer", []),
            ("reconciler", []),
            ("emulator", []),
            ("accounts", []),
            ("dial", ["--to", "+15005550006", "--from", "+15005550001", "--url", "https://e/t"]),
        )
    ),
    # up with a named broker that does not answer: one line at once (the probe), not a
    # Kafka client's 30 s timeout
    Case("up", "named-broker-unreachable", [], CONFIGURED, says=f"cannot reach Kafka at {DEAD}"),
    # a port in use: stopped before the service starts ({taken} is a port the test holds)
    *(
        Case(name, "port-taken", [*args, "--port", "{taken}"], CONFIGURED, says="{taken}")
        for name, args in (
            ("ingest", []),
            ("emulator", []),
            ("broker", []),
            ("datasette", ["--db", "live.db"]),
        )
    ),
]
ALL = [c for c in cases() + SPECIFIC if c.name in COMMANDS]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a real projector database, a foreign SQLite file, a text file and a
    directory; no callstream.db (the default), no callstream-up.env."""
    d = tmp_path_factory.mktemp("cli")
    Store(d / "live.db", "twilio.call-status").close()
    import sqlite3

    conn = sqlite3.connect(d / "foreign.db")
    conn.execute("CREATE TABLE stuff (x)")
    conn.close()
    (d / "notdb.txt").write_text("not a database\n")
    (d / "adir").mkdir()
    return d


@pytest.fixture
def workdir(template: Path, tmp_path: Path) -> Path:
    """A copy of the template for one case (a command may create files, e.g. the projector
    its database, and the next case must not find them)."""
    import shutil

    return Path(shutil.copytree(template, tmp_path / "cwd"))


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CALLSTREAM_", "TWILIO_", "KAFKA_"))
    }
    return {**env, **extra}


@pytest.fixture(scope="module")
def taken() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield str(s.getsockname()[1])


@pytest.mark.parametrize("case", ALL, ids=[f"{c.name}-{c.kind}" for c in ALL])
def test_a_mistake_gets_one_line_and_a_non_zero_exit(case: Case, workdir: Path, taken: str) -> None:
    args = [a.replace("{taken}", taken) for a in case.args]
    says = case.says.replace("{taken}", taken)
    r = subprocess.run(
        [sys.executable, "-m", "callstream", case.name, *args],
        cwd=workdir,
        env=clean_env(case.env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode != 0, f"exit 0\n{r.stdout}\n{r.stderr}"
    if case.status is not None:
        assert r.returncode == case.status, r.stderr
    prefix = f"callstream {case.name}: error: "
    if case.usage:
        assert lines and lines[0].startswith(f"usage: callstream {case.name}"), r.stderr
        assert lines[-1].startswith(prefix), r.stderr
        assert all(not line.startswith(prefix) for line in lines[:-1]), r.stderr
    else:
        assert len(lines) == 1 and lines[0].startswith(prefix), r.stderr
    assert says in lines[-1], r.stderr
