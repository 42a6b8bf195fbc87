"""Child processes that cannot outlive callstream."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # PR_SET_PDEATHSIG = 1: the kernel SIGKILLs the child when the thread that started it
    # exits, so start children from a long-lived thread (the main thread).
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    # own process group: a Ctrl-C in the terminal reaches callstream, which then stops the
    # child in order, instead of every process at once
    os.setpgrp()


def child_preexec() -> Callable[[], None] | None:
    """``preexec_fn`` for ``subprocess.Popen``: on Linux, die with the parent."""
    return _die_with_parent if sys.platform.startswith("linux") else None


def die_with_parent(parent_pid: int) -> None:
    """Called first thing by a Python child process: on Linux, be killed when the parent
    dies, and exit at once if it already has. Unlike ``child_preexec`` this needs no
    ``preexec_fn``, which is unsafe in a parent that runs threads."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request was made
        raise SystemExit(0)
