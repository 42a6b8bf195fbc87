"""Run the ingest app under uvicorn (uvloop and httptools where installed)."""

from __future__ import annotations

import importlib.util
import logging

from callstream import logs, web
from callstream.settings import Settings
from ingest.app import REQUIRED, create_app

log = logging.getLogger("callstream.ingest")


def run_service(settings: Settings, host: str, port: int) -> None:
    settings.require(*REQUIRED)
    logs.configure("ingest", settings.log_level)
    app = create_app(settings, bind_host=host)
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    log.info("starting", extra={"settings": settings.redacted(), "loop": loop, "http": http})
    web.serve(app, host, port, "ingest", loop=loop, http=http)
