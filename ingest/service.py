"""Run the ingest app under uvicorn (uvloop where installed; httptools with callstream's
HTTP limits, as every service)."""

from __future__ import annotations

import importlib.util
import logging

from callstream import logs, web
from callstream.settings import Settings
from ingest.bootstrap import check_spool, create_app

log = logging.getLogger("callstream.ingest")


def run_service(settings: Settings, host: str, port: int) -> None:
    app = create_app(settings, bind_host=host)  # checks the settings first
    check_spool(settings)
    logs.configure("ingest", settings.log_level)
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    log.info("starting", extra={"settings": settings.redacted(), "loop": loop, "http": "httptools"})
    web.serve(app, host, port, "ingest", loop=loop)
