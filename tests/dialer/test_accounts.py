"""Two accounts through the dialer and the emulator (real broker, twilio-python on
loopback): each account's creates, as the emulator received them, at least 1/cps apart
for that account's own cps, the two accounts interleaved rather than queued behind each
other, and each create authenticated as the account it names."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from callstream import kafka_clients
from callstream.accounts import configured_accounts
from callstream.dialrequest import from_input
from callstream.settings import Settings
from callstream.subaccounts import AccountBook
from dialer.bootstrap import build
from tests.dialer.conftest import Emu, Sink
from tests.dialer.harness import enqueue, gaps, outcomes
from tests.helpers import ACCOUNT_SID, wait_until

pytestmark = pytest.mark.slow
B, B_TOKEN = "AC" + "b" * 32, "b-token-0123456789"
CPS_A, CPS_B = 2.0, 5.0


def accounts_file(tmp_path: Path) -> Path:
    f = tmp_path / "accounts.toml"
    f.write_text(
        f'[[account]]\nsid = "{B}"\nauth_token_env = "B_TOKEN"\ncps = {CPS_B}\n',
        encoding="utf-8",
    )
    return f


def requests_for(acct: str, n: int) -> list[Any]:
    return [
        from_input(
            {
                "to": f"+1415{'7' if acct == B else '6'}55{i:04d}",
                "from": "+14155550000",
                "twiml": "<Response><Say>hi</Say></Response>",
            },
            acct,
        )
        for i in range(n)
    ]


def test_two_accounts_each_at_its_own_cps(
    settings: Settings, make_emulator: Callable[..., Emu], sink: Sink, tmp_path: Path
) -> None:
    # the emulator would queue over 20/s per account: what it receives is the dialer's pace
    emu = make_emulator(cps=20, extra_accounts={B: B_TOKEN})
    s = replace(
        settings,
        twilio_api_url=emu.url,
        public_url=sink.url,
        cps=CPS_A,
        accounts_file=accounts_file(tmp_path),
    )
    book = AccountBook(configured_accounts(s, {"B_TOKEN": B_TOKEN}))
    a_reqs, b_reqs = requests_for(ACCOUNT_SID, 6), requests_for(B, 12)
    enqueue(s, a_reqs + b_reqs)  # A's backlog first; the keys may share a partition
    profile = kafka_clients.PROFILES[s.kafka_profile or "tansu"]
    d = build(s, profile=profile, book=book, http_timeout_s=5.0)
    t = threading.Thread(target=d.run, daemon=True)
    t.start()
    try:
        outs = outcomes(s, expect=18, timeout=60)
    finally:
        d.stop()
        t.join(timeout=30)
    assert d.failed is None
    assert Counter(o["result"] for o in outs) == {"created": 18}
    received = [r for r in emu.received() if r.get("call_sid")]
    by_acct: dict[str, list[float]] = {}
    for r in received:
        to = dict(r["params"])["To"]
        # the URL's account (proved by its credentials) is the request's own
        assert r["account_sid"] == (B if to.startswith("+14157") else ACCOUNT_SID)
        by_acct.setdefault(r["account_sid"], []).append(r["received_at"])
    assert len(by_acct[ACCOUNT_SID]) == 6 and len(by_acct[B]) == 12
    assert min(gaps(by_acct[ACCOUNT_SID])) >= 1 / CPS_A
    assert min(gaps(by_acct[B])) >= 1 / CPS_B
    # interleaved: B (12 at 5/s) is done before A (6 at 2/s), though queued after it
    assert max(by_acct[B]) < max(by_acct[ACCOUNT_SID])
    assert min(by_acct[B]) < sorted(by_acct[ACCOUNT_SID])[1]
    # each call's callbacks reach the sink
    wait_until(lambda: len(sink.forms) >= 18, timeout=30, what="callbacks")
