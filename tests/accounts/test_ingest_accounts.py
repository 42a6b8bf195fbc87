"""ingest with several accounts, through the real app on loopback and a real broker: each
callback is checked with the tokens of the account it names (primary, secondary, and a
subaccount's parent's); other accounts' tokens, unknown and closed accounts get 403 and
nothing reaches the topic. ``/dial`` takes ``account_sid``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from callstream import topics
from callstream.accounts import Account, configured_accounts
from callstream.settings import Settings
from callstream.subaccounts import AccountBook
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, read_topic
from tests.ingest.support import call_sid, callback, post_callback, served_ingest

B = "AC" + "b" * 32
B_TOKEN, B_SECOND = "b-primary-token-0123", "b-secondary-token-4567"
SUB, SUB_TOKEN = "AC" + "5" * 32, "sub-token-89ab"
CLOSED = "AC" + "6" * 32
UNKNOWN = "AC" + "7" * 32


class Lister:
    """Twilio's listing of B's subaccounts (the emulator's is tested in test_processes)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, parent: Account) -> list[Account]:
        self.calls += 1
        if parent.sid != B:
            return []
        return [
            Account(SUB, SUB_TOKEN, friendly_name="customer"),
            Account(CLOSED, "closed-token", status="closed"),
        ]


def multi(settings: Settings, tmp_path: Path) -> Settings:
    f = tmp_path / "accounts.toml"
    f.write_text(
        f'[[account]]\nsid = "{B}"\nauth_token = "{B_TOKEN}"\n'
        f'secondary_auth_token_env = "B_SECOND"\ncps = 2\n',
        encoding="utf-8",
    )
    return dataclasses.replace(settings, accounts_file=f)


def book(settings: Settings, lister: Lister) -> AccountBook:
    accounts = configured_accounts(settings, {"B_SECOND": B_SECOND})
    b = AccountBook(accounts, lister, refresh_every_s=0)  # listed here, not by a thread
    b.refresh()
    return b


def for_account(acct: str) -> tuple[str, list[tuple[str, str]]]:
    sid = call_sid()
    return sid, [("AccountSid", acct), *callback(sid)[1:]]


def test_each_account_signs_its_own_callbacks(settings: Settings, tmp_path: Path) -> None:
    s = multi(settings, tmp_path)
    lister = Lister()
    accepted: list[str] = []
    with served_ingest(s, book=book(s, lister)) as (_, client):
        for acct, token in [
            (ACCOUNT_SID, AUTH_TOKEN),
            (B, B_TOKEN),
            (B, B_SECOND),  # during a rotation
            (SUB, SUB_TOKEN),
            (SUB, B_TOKEN),  # the parent's token, which controls the subaccount
            (SUB, B_SECOND),
        ]:
            sid, pairs = for_account(acct)
            r = post_callback(client, pairs, token=token)
            assert r.status_code == 204, (acct, r.text)
            accepted.append(sid)
        refused = [
            (ACCOUNT_SID, B_TOKEN, "bad-signature"),
            (B, AUTH_TOKEN, "bad-signature"),
            (B, SUB_TOKEN, "bad-signature"),  # a subaccount cannot sign for its parent
            (SUB, AUTH_TOKEN, "bad-signature"),
            (UNKNOWN, AUTH_TOKEN, "wrong-account"),
            (CLOSED, "closed-token", "wrong-account"),
            (CLOSED, B_TOKEN, "wrong-account"),
        ]
        for acct, token, code in refused:
            _, pairs = for_account(acct)
            r = post_callback(client, pairs, token=token)
            assert r.status_code == 403, (acct, r.text)
            assert r.json()["error"] == code
        assert "closed" in post_callback(client, for_account(CLOSED)[1]).json()["message"]
        metrics = client.get("/metrics").text
    records = read_topic(settings, settings.topic(topics.CALL_STATUS))
    assert sorted(r.key.decode() for r in records) == sorted(accepted)
    assert 'outcome="spooled"} 0.0' in metrics or "spooled" not in metrics
    for secret in (AUTH_TOKEN, B_TOKEN, B_SECOND, SUB_TOKEN):
        assert secret not in metrics


def test_a_flood_of_unknown_accounts_lists_once(settings: Settings, tmp_path: Path) -> None:
    s = multi(settings, tmp_path)
    lister = Lister()
    b = book(s, lister)
    before = lister.calls
    with served_ingest(s, book=b) as (_, client):
        for i in range(60):
            _, pairs = for_account(f"AC{i:032x}")
            r = post_callback(client, pairs)
            assert r.status_code == 403 and r.json()["error"] == "wrong-account"
    # one listing (one call per configured account) for the whole flood
    assert lister.calls - before == 2


def test_dial_takes_an_account(settings: Settings, tmp_path: Path) -> None:
    s = multi(settings, tmp_path)
    body = {"to": "+14155550100", "from": "+14155550111", "url": "https://example.com/t"}
    with served_ingest(s, book=book(s, Lister())) as (_, client):
        assert client.post("/dial", json=body).status_code == 202
        for acct in (B, SUB):
            assert client.post("/dial", json={**body, "account_sid": acct}).status_code == 202
        for bad in (UNKNOWN, CLOSED, "nope", 3):
            r = client.post("/dial", json={**body, "account_sid": bad})
            assert r.status_code == 400 and r.json()["error"] == "unknown-account", bad
    recs = read_topic(settings, settings.topic(topics.DIALER_REQUESTS), expect=3)
    got = [(r.key.decode(), json.loads(r.value)["account_sid"]) for r in recs]
    assert sorted(got) == sorted([(ACCOUNT_SID, ACCOUNT_SID), (B, B), (SUB, SUB)])
