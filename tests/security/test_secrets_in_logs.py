"""Secrets never logged: the real processes (broker, emulator, projector, ingest, dialer)
run with an API token at DEBUG level; signed callbacks (one with a bad signature), a dial
with the token that goes all the way through the emulator and back, and requests with a
wrong token; then no log line of any process holds the auth token or the API token."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest

from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until
from tests.ingest.support import FORM, call_sid, callback, form, sign
from tests.support.pipeline import Pipeline

API_TOKEN = "api-token-never-logged-" + "3f9a" * 6


def _forms(secret: str) -> list[str]:
    """The secret as it could appear in a log: plain, URL-encoded, in Basic credentials."""
    return [
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(f"{ACCOUNT_SID}:{secret}".encode()).decode(),
        json.dumps(secret)[1:-1],
        secret[: len(secret) // 2 + 4],  # a long prefix: a truncated secret is a leak too
    ]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_no_secret_in_the_logs_of_a_full_run(tmp_path: Path) -> None:
    with Pipeline(tmp_path, CALLSTREAM_API_TOKEN=API_TOKEN, CALLSTREAM_LOG_LEVEL="DEBUG") as p:
        p.start("broker", "emulator", "projector", "ingest", "dialer")
        ingest, projector = p["ingest"].url, p["projector"].url
        public = p.env["CALLSTREAM_PUBLIC_URL"]
        auth = {"authorization": f"Bearer {API_TOKEN}"}
        with httpx.Client(timeout=20) as c:
            # signed callbacks, then one with a bad signature
            sid = call_sid()
            for seq, status in enumerate(("initiated", "ringing", "completed")):
                pairs = callback(sid, status, seq)
                r = c.post(
                    ingest + "/twilio/status",
                    content=form(pairs),
                    headers={
                        "content-type": FORM,
                        "x-twilio-signature": sign(public + "/twilio/status", pairs),
                    },
                )
                assert r.status_code == 204, r.text
            pairs = callback(sid, "busy", 9)
            r = c.post(
                ingest + "/twilio/status",
                content=form(pairs),
                headers={
                    "content-type": FORM,
                    "x-twilio-signature": sign(public + "/twilio/status", pairs, token="wrong"),
                },
            )
            assert r.status_code == 403
            # a dial with the token: the dialer creates it on the emulator (Basic auth with
            # the auth token), the emulator fetches TwiML and sends signed callbacks
            dial = {
                "to": "+14155550123",
                "from": "+15005550006",
                "url": public + "/twilio/voice",
                "id": "secrets-test-1",
            }
            r = c.post(ingest + "/dial", json=dial, headers=auth)
            assert r.status_code == 202, r.text
            # wrong tokens, on both guarded services
            for bad in ("Bearer wrong-token", f"Basic {API_TOKEN}", f"Bearer {API_TOKEN}x"):
                assert (
                    c.post(ingest + "/dial", json=dial, headers={"authorization": bad}).status_code
                    == 401
                )
                assert (
                    c.get(projector + "/calls", headers={"authorization": bad}).status_code == 401
                )

            def dialed_call_done() -> bool:
                body = c.get(
                    projector + "/calls?direction=outbound-api&status=completed", headers=auth
                ).json()
                return any(
                    x["call_sid"] != sid and x["to_number"] == "+14155550123" for x in body["calls"]
                )

            wait_until(
                dialed_call_done,
                timeout=90,
                interval=0.5,
                what="the dialed call projected as completed",
            )
            assert c.get(f"{projector}/calls/{sid}", headers=auth).json()["status"] == "completed"
        for name in ("dialer", "ingest", "projector", "emulator"):
            p[name].terminate()
        logs = p.logs()

    assert "ready" in logs and len(logs.splitlines()) > 10
    for label, secret in (("auth token", AUTH_TOKEN), ("API token", API_TOKEN)):
        for leaked in _forms(secret):
            assert leaked not in logs, f"the {label} appears in the logs (as {leaked!r})"
