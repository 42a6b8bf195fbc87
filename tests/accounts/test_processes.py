"""Several accounts through the real processes (broker, emulator, ingest, dialer) and
twilio-python: two accounts and a subaccount created on the emulator and discovered,
calls dialed for each and their callbacks accepted (each signed by its own account),
callbacks refused across accounts, for an unknown and for a closed subaccount, a rotation
(the secondary token), each account's pace where the emulator receives the creates, and
no token in any log line of the run.

Needs the emulator's ``--account SID:TOKEN`` and Accounts resource (docs/emulator.md)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from callstream import topics
from callstream.settings import Settings
from callstream.subaccounts import account_client
from tests.accounts.support import account_file, post_for
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, read_topic, wait_until
from tests.support.pipeline import Pipeline

B, B_TOKEN = "AC" + "b" * 32, "b-primary-token-" + "7e21" * 4
B_SECOND = "b-secondary-token-" + "9c04" * 4
UNKNOWN = "AC" + "e" * 32
CPS_A, CPS_B = 4.0, 2.0


def gaps(ts: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(sorted(ts))]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_accounts_and_a_subaccount_end_to_end(tmp_path: Path) -> None:
    accounts = account_file(tmp_path, B, CPS_B, "brand B")
    with Pipeline(
        tmp_path,
        CALLSTREAM_ACCOUNTS=str(accounts),
        B_TOKEN=B_TOKEN,
        B_SECOND=B_SECOND,
        CALLSTREAM_CPS=str(CPS_A),
        CALLSTREAM_LOG_LEVEL="DEBUG",
    ) as p:
        emu = p["emulator"]
        emu.argv += ["--account", f"{B}:{B_TOKEN}", "--cps", "20", "--speed", "20"]
        p.start("broker", "emulator")
        # a subaccount of B and a closed one, through twilio-python's Accounts resource
        b_client = account_client(B, B_TOKEN, emu.url, 10)
        sub = b_client.api.accounts.create(friendly_name="customer 1")
        closed = b_client.api.accounts.create(friendly_name="customer 2")
        b_client.api.accounts(closed.sid).update(status="closed")
        sub_sid, sub_token = sub.sid, sub.auth_token
        assert sub_token and sub.owner_account_sid == B
        p.start("ingest", "dialer")
        wait_until(
            lambda: (
                p["ingest"].log_text().count("accounts listed") >= 1
                and p["dialer"].log_text().count("accounts listed") >= 1
            ),
            timeout=30,
            what="the services' first listing",
        )
        ingest, public = p["ingest"].url, p.env["CALLSTREAM_PUBLIC_URL"]
        n = {ACCOUNT_SID: 6, B: 4, sub_sid: 4}
        with httpx.Client(timeout=20) as c:
            # dial for each account through /dial: callbacks come back signed by each
            for acct, count in n.items():
                for i in range(count):
                    body = {
                        "to": f"+1415{list(n).index(acct)}55{i:04d}",
                        "from": "+15005550006",
                        "twiml": "<Response><Say>hi</Say></Response>",
                        "account_sid": acct,
                    }
                    assert c.post(ingest + "/dial", json=body).status_code == 202
            for bad in (UNKNOWN, closed.sid):
                body["account_sid"] = bad
                assert c.post(ingest + "/dial", json=body).status_code == 400

            def post(acct: str, token: str) -> httpx.Response:
                return post_for(c, ingest, public, acct, token)

            assert post(B, B_SECOND).status_code == 204  # rotation: the secondary token
            assert post(sub_sid, B_TOKEN).status_code == 204  # the parent's token
            for acct, token, code in (
                (B, AUTH_TOKEN, "bad-signature"),
                (ACCOUNT_SID, B_TOKEN, "bad-signature"),
                (sub_sid, AUTH_TOKEN, "bad-signature"),
                (UNKNOWN, AUTH_TOKEN, "wrong-account"),
                (closed.sid, B_TOKEN, "wrong-account"),
            ):
                r = post(acct, token)
                assert (r.status_code, r.json()["error"]) == (403, code), (acct, r.text)

            def received() -> list[dict[str, object]]:
                got = c.get(emu.url + "/emulator/requests").json()
                return [r for r in got if r.get("call_sid")]

            wait_until(lambda: len(received()) == sum(n.values()), timeout=60, what="creates")
            created = received()
            # each dialed call's callbacks were accepted: signed by the owning account
            settings = Settings.from_env(p.env)
            want = {str(r["call_sid"]): str(r["account_sid"]) for r in created}

            def callbacks() -> dict[str, str]:
                recs = read_topic(settings, settings.topic(topics.CALL_STATUS))
                seen = {}
                for rec in recs:
                    params = dict(json.loads(rec.value)["params"])
                    seen[params["CallSid"]] = params["AccountSid"]
                return seen

            wait_until(lambda: want.items() <= callbacks().items(), timeout=60, what="callbacks")
        out = subprocess.run(
            [sys.executable, "-m", "callstream", "accounts", "--json"],
            env=p.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        listed = {a["sid"]: a for a in json.loads(out.stdout)}
        assert listed[ACCOUNT_SID]["source"] == "env" and listed[B]["source"] == "file"
        assert listed[sub_sid]["parent_sid"] == B and listed[sub_sid]["source"] == "discovered"
        assert listed[closed.sid]["status"] == "closed"
        for name in ("dialer", "ingest", "emulator"):
            p[name].terminate()
        logs = p.logs() + out.stdout + out.stderr
    by_acct: dict[str, list[float]] = {}
    for entry in created:
        by_acct.setdefault(str(entry["account_sid"]), []).append(float(str(entry["received_at"])))
    assert {a: len(ts) for a, ts in by_acct.items()} == n
    assert min(gaps(by_acct[ACCOUNT_SID])) >= 1 / CPS_A
    assert min(gaps(by_acct[B])) >= 1 / CPS_B
    assert min(gaps(by_acct[sub_sid])) >= 1 / CPS_A  # a subaccount: CALLSTREAM_CPS
    # interleaved, not queued: A's six (4/s) start before B's four (2/s) are done
    assert min(by_acct[ACCOUNT_SID]) < max(by_acct[B])
    assert min(by_acct[B]) < max(by_acct[ACCOUNT_SID])
    assert "accounts listed" in logs
    for secret in (AUTH_TOKEN, B_TOKEN, B_SECOND, sub_token, closed.auth_token):
        assert secret not in logs, "a token appears in the logs"
