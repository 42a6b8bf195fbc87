"""Hand-made mutants that mutmut's operators do not make: module constants, ``min`` ->
``max``, deleted statements (the survivors issue 19 listed). Run by hand, never by the
suite (docs/contributing.md):

    nice -n 19 .venv/bin/python tests/unit/hand_mutants.py

Each mutant is applied to a copy of the packages and tests in a temporary directory (the
work tree is never touched) and the mutation selection of ``[tool.mutmut]`` runs there;
the script prints KILLED or SURVIVED per mutant with the first failing test, and exits 1
if any survived.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPY = ("callstream", "dialer", "ingest", "projector", "tests", "docs", "pyproject.toml")

MUTANTS: list[tuple[str, str, str]] = [
    ("dialer/pacing.py", "interval_s=1.0 / cps", "interval_s=2.0 / cps"),
    (
        "dialer/pacing.py",
        "self._push(account, self.spacing.handover_ready(last_sent_wall, now_wall, now_mono))",
        "pass",
    ),
    ("dialer/pacing.py", "DEFAULT_HANDOVER_MARGIN_S = 0.1", "DEFAULT_HANDOVER_MARGIN_S = 0.0"),
    ("dialer/pacing.py", "DEFAULT_HANDOVER_MARGIN_S = 0.1", "DEFAULT_HANDOVER_MARGIN_S = 0.2"),
    ("dialer/pacing.py", "CAUSAL_MARGIN_S = 0.005", "CAUSAL_MARGIN_S = 0.0"),
    ("dialer/pacing.py", "CAUSAL_MARGIN_S = 0.005", "CAUSAL_MARGIN_S = 0.01"),
    ("dialer/pacing.py", "START_MARGIN_S = 0.015", "START_MARGIN_S = 0.0"),
    ("dialer/pacing.py", "START_MARGIN_S = 0.015", "START_MARGIN_S = 0.03"),
    ("projector/fold.py", "terminal_pos = min((pos for st", "terminal_pos = max((pos for st"),
    (
        "callstream/envelope.py",
        "return None if first is None else (received_at",
        "return None if False else (received_at",
    ),
    (
        "callstream/envelope.py",
        # the final shape check of _own_layout, as good as deleted
        "    if (\n        i != len(text) - 1\n",
        "    if False and (\n        i != len(text) - 1\n",
    ),
    (
        "projector/fold.py",
        """    if len(sids) != 1:
        raise ValueError(f"fold() got events of several calls: {sorted(sids)}")
""",
        "",
    ),
    (
        "projector/fold.py",
        # the first-copy rule as the store's SQL, turned round
        '\'(excluded.partition, excluded."offset") < (call_events',
        '\'(excluded.partition, excluded."offset") > (call_events',
    ),
    ("projector/interpret.py", "if not v or len(v) > 18:", "if not v or len(v) > 19:"),
    (
        "projector/interpret.py",
        'zone = parts[4] if len(parts) > 4 else "+0000"',
        'zone = parts[4] if len(parts) > 4 else "X"',
    ),
    (
        "projector/interpret.py",
        '("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")',
        '("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Oct", "Sep", "Nov", "Dec")',
    ),
    (
        "ingest/callback.py",
        """    if b"+" in b:
        b = b.replace(b"+", b" ")
""",
        "",
    ),
    (
        "ingest/callback.py",
        """    if b"%" in b:
        b = unquote_to_bytes(b)
""",
        "",
    ),
    (
        "ingest/callback.py",
        """            for field in raw.split(b"&"):
                if field:""",
        """            for field in raw.split(b"&"):
                if True:""",
    ),
    (
        "ingest/signature.py",
        """        if not sig:
            return False
        given""",
        """        if not sig:
            return True
        given""",
    ),
]


def pytest(cwd: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The selection, in the copy (its packages come first on sys.path there)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def main() -> int:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    selection = config["pytest_add_cli_args_test_selection"] + config["pytest_add_cli_args"]
    survived = 0
    with tempfile.TemporaryDirectory(prefix="hand-mutants-") as tmp:
        for name in COPY:
            src, dst = ROOT / name, Path(tmp) / name
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, dst)
        clean = pytest(tmp, selection)
        if clean.returncode != 0:  # a verdict means nothing unless the unmutated code passes
            print(clean.stdout[-3000:] + clean.stderr[-3000:])
            print("the selection fails without any mutant: fix that first")
            return 2
        for path, old, new in MUTANTS:
            target = Path(tmp) / path
            original = target.read_text()
            if original.count(old) != 1:
                print(f"{path}: the code to mutate is gone or not unique: {old.strip()[:60]!r}")
                return 2
            target.write_text(original.replace(old, new))
            try:
                run = pytest(tmp, selection)
            finally:
                target.write_text(original)
            failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
            verdict = "KILLED" if run.returncode == 1 and failed else "SURVIVED"
            survived += verdict == "SURVIVED"
            what = old.strip().splitlines()[0][:60]
            print(f"{verdict:8} {path}: {what}  {failed[0][7:] if failed else ''}", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
