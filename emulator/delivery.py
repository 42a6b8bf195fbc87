"""Sending one webhook request as Twilio does: timeouts and retries from the connection
overrides, the 15-second hard cap, and the chaos switches that act per attempt."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

import httpx

from emulator.chaos import Chaos
from emulator.overrides import HARD_CAP_S, Overrides
from emulator.signing import SignedRequest

log = logging.getLogger("callstream.emulator.delivery")


@dataclass(frozen=True)
class Attempt:
    """How a request ended: ``result`` is ``delivered`` (2xx), ``http-NNN`` (other status),
    ``connect-failed``, ``read-timeout``, ``error`` or ``timeout`` (the total cap)."""

    result: str
    status: int | None
    attempts: int
    body: str = ""

    @property
    def ok(self) -> bool:
        return self.result == "delivered"


async def send(
    client: httpx.AsyncClient,
    req: SignedRequest,
    ov: Overrides,
    chaos: Chaos | None = None,
    rng: random.Random | None = None,
) -> Attempt:
    chaos = chaos or Chaos()
    rng = rng or random.Random()
    attempts = 0
    timeout = httpx.Timeout(
        connect=ov.connect_timeout,
        read=ov.read_timeout,
        write=ov.read_timeout,
        pool=ov.connect_timeout,
    )
    last = Attempt("timeout", None, 0)
    try:
        async with asyncio.timeout(min(ov.total_timeout, HARD_CAP_S)):
            while True:
                attempts += 1
                if chaos.latency:
                    await asyncio.sleep(chaos.latency)
                reason: str | None
                try:
                    if chaos.connect_fail and rng.random() < chaos.connect_fail:
                        raise httpx.ConnectError("chaos: connection refused")
                    resp = await client.request(
                        req.method,
                        req.url,
                        content=req.body,
                        headers=req.headers,
                        timeout=timeout,
                    )
                    if 200 <= resp.status_code < 300:
                        return Attempt("delivered", resp.status_code, attempts, resp.text)
                    status = resp.status_code
                    last = Attempt(f"http-{status}", status, attempts, resp.text)
                    if ov.retry_for_status(resp.status_code) and attempts <= ov.retries:
                        continue
                    return last
                except (httpx.ConnectError, httpx.ConnectTimeout):
                    reason, last = "ct", Attempt("connect-failed", None, attempts)
                except httpx.ReadTimeout:
                    reason, last = "rt", Attempt("read-timeout", None, attempts)
                except httpx.HTTPError as e:  # partial responses are never retried
                    log.debug("request error", extra={"url": req.url, "error": repr(e)})
                    return Attempt("error", None, attempts)
                if reason in ov.retry_on and attempts <= ov.retries:
                    continue
                return last
    except TimeoutError:
        return Attempt("timeout", last.status, attempts)
