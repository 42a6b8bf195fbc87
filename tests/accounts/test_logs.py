"""No token in any log line of a full run with an accounts file: broker, emulator, ingest
and dialer at DEBUG; callbacks for the file's account signed with its primary and its
secondary token, refused ones, and a dial for that account (the emulator serves the
file's accounts too, so the call is created, and its callbacks, signed with the file's
token, come back through ingest)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.accounts.support import account_file, post_for
from tests.helpers import AUTH_TOKEN, wait_until
from tests.support.pipeline import Pipeline

B = "AC" + "b" * 32
B_TOKEN = "b-primary-token-" + "51f3" * 5
B_SECOND = "b-secondary-token-" + "c0de" * 5


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_no_account_token_in_the_logs(tmp_path: Path) -> None:
    accounts = account_file(tmp_path, B, 2)
    env = {
        "CALLSTREAM_ACCOUNTS": str(accounts),
        "B_TOKEN": B_TOKEN,
        "B_SECOND": B_SECOND,
        "CALLSTREAM_LOG_LEVEL": "DEBUG",
        "CALLSTREAM_ACCOUNTS_REFRESH": "10",  # the listings' log lines too
    }
    with Pipeline(tmp_path, **env) as p:
        p.start("broker", "emulator", "ingest", "dialer")
        ingest, public = p["ingest"].url, p.env["CALLSTREAM_PUBLIC_URL"]
        with httpx.Client(timeout=20) as c:

            def post(token: str) -> int:
                return post_for(c, ingest, public, B, token).status_code

            assert [post(B_TOKEN), post(B_SECOND), post(AUTH_TOKEN)] == [204, 204, 403]
            body = {"to": "+14155550199", "from": "+15005550006", "twiml": "<Response/>"}
            assert c.post(ingest + "/dial", json={**body, "account_sid": B}).status_code == 202
            wait_until(
                lambda: "call created" in p["dialer"].log_text(),
                timeout=60,
                what="the dialer's create for the file's account",
            )
        for name in ("dialer", "ingest", "emulator"):
            p[name].terminate()
        logs = p.logs()
    for secret in (AUTH_TOKEN, B_TOKEN, B_SECOND):
        for leaked in (secret, secret[: len(secret) // 2 + 4]):
            assert leaked not in logs, "a token appears in the logs"
