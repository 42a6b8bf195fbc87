"""One ingest worker under ``callstream ingest --workers N`` (started by ``ingest.workers``,
never by hand): serves the listening socket it inherited, with the spool of its index.

    python -m ingest.workers_child --fd F --index I --workers N --host H --port P --parent R

``--parent`` is the read end of a pipe whose write end only the supervisor holds: it reads
end-of-file when the supervisor is gone, however it died (``kill -9`` included), and the
worker then stops itself as on SIGTERM, instead of serving on as an orphan.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading


def _watch_parent(fd: int) -> None:
    def run() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=run, name="ingest-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ingest worker")
    for flag in ("--fd", "--index", "--workers", "--port", "--parent"):
        ap.add_argument(flag, type=int, required=True)
    ap.add_argument("--host", required=True)
    args = ap.parse_args(argv)

    from callstream.errors import StartupError
    from callstream.settings import Settings
    from ingest.service import run_service

    _watch_parent(args.parent)
    sock = socket.socket(fileno=args.fd)
    try:
        run_service(
            Settings.from_env(),
            args.host,
            args.port,
            sock=sock,
            worker=args.index,
            workers=args.workers,
        )
    except StartupError as e:
        print(f"callstream ingest: worker {args.index}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
