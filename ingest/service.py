"""Run the ingest app under uvicorn (uvloop where installed; httptools with callstream's
HTTP limits, as every service): one process, or one of ``--workers N`` on a socket the
supervisor (``ingest.workers``) bound."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import socket
from typing import Any

from callstream import logs, web
from callstream.errors import StartupError
from callstream.settings import Settings
from ingest.bootstrap import check_spool, create_app
from ingest.spool import Spool
from ingest.workers_spool import adopt_orphans, worker_spool

log = logging.getLogger("callstream.ingest")


def run_service(
    settings: Settings,
    host: str,
    port: int,
    *,
    sock: socket.socket | None = None,
    worker: int = 0,
    workers: int = 1,
) -> None:
    """Serve until SIGTERM or Ctrl-C. ``sock``: an already listening socket (a worker's)."""
    base = settings.spool
    settings = dataclasses.replace(settings, spool=worker_spool(base, worker, workers))
    # worker: a Publisher option (its /readyz answer names the worker)
    app = create_app(settings, bind_host=host, worker=worker if workers > 1 else None)
    check_spool(settings)
    logs.configure("ingest", settings.log_level)
    own = Spool(settings.spool)
    try:
        adopt_orphans(own, base, worker, workers)
    finally:
        own.close()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    extra: dict[str, Any] = {"settings": settings.redacted(), "loop": loop, "http": "httptools"}
    if workers > 1:
        extra.update(worker=worker, workers=workers)
    log.info("starting", extra=extra)
    if sock is None:
        web.serve(app, host, port, "ingest", loop=loop)
        return
    server = web.make_server(app, host, port, "ingest", loop=loop)
    server.run(sockets=[sock])
    if not server.started:
        raise StartupError(f"worker {worker} could not serve on {host}:{port}")
