# One image for every callstream service; compose.yaml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY callstream ./callstream
COPY ingest ./ingest
COPY projector ./projector
COPY dialer ./dialer
COPY emulator ./emulator
COPY reconciler ./reconciler
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin callstream \
    && mkdir -p /data \
    && chown callstream:callstream /data

USER callstream
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["callstream"]
CMD ["--help"]
