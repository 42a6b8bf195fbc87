"""Accounts and subaccounts through twilio-python's own ``client.api.accounts``: create,
list (filters, paging), fetch, update; calls of a subaccount placed with the parent's
credentials, each account's own CPS queue, callbacks signed with the owning account's
token, and suspended or closed accounts refused."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator

from tests.emulator.conftest import FROM, TO, TWIML, Emu, twilio_client
from tests.emulator.receiver import Hit, Receiver
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, wait_until

OTHER_SID, OTHER_TOKEN = "AC" + "e" * 32, "other_token_0123456789abcdef0000"


def _refused(fn: Callable[[], Any], status: int, code: int) -> None:
    with pytest.raises(TwilioRestException) as e:
        fn()
    assert (e.value.status, e.value.code) == (status, code), e.value


def test_create_list_fetch_update_through_client_api_accounts(emu: Emu) -> None:
    api = emu.client.api
    sub = api.accounts.create(friendly_name="tenant-a")
    assert re.fullmatch(r"AC[0-9a-f]{32}", sub.sid) and sub.sid != ACCOUNT_SID
    assert re.fullmatch(r"[0-9a-f]{32}", sub.auth_token) and sub.auth_token != AUTH_TOKEN
    assert (sub.owner_account_sid, sub.friendly_name, sub.status, sub.type) == (
        ACCOUNT_SID,
        "tenant-a",
        "active",
        "Full",
    )
    assert sub.uri == f"/2010-04-01/Accounts/{sub.sid}.json"
    assert sub.subresource_uris["calls"] == f"/2010-04-01/Accounts/{sub.sid}/Calls.json"
    assert sub.date_created is not None  # twilio-python parsed the RFC 2822 date
    other = api.accounts.create()
    _refused(lambda: api.accounts.create(friendly_name="x" * 65), 400, 20001)
    assert other.friendly_name.startswith("SubAccount Created at ")

    # the parent lists itself first, then its subaccounts, each with its token
    listed = api.accounts.list()
    assert [a.sid for a in listed] == [ACCOUNT_SID, sub.sid, other.sid]
    assert {a.sid: a.auth_token for a in listed}[sub.sid] == sub.auth_token
    assert [a.sid for a in api.accounts.list(friendly_name="tenant-a")] == [sub.sid]
    # twilio-python follows next_page_uri across pages of one
    assert [a.sid for a in api.accounts.list(page_size=1)] == [ACCOUNT_SID, sub.sid, other.sid]

    fetched = api.accounts(sub.sid).fetch()
    assert (fetched.sid, fetched.auth_token, fetched.owner_account_sid) == (
        sub.sid,
        sub.auth_token,
        ACCOUNT_SID,
    )
    renamed = api.accounts(sub.sid).update(friendly_name="tenant-a (EU)")
    assert renamed.friendly_name == "tenant-a (EU)"
    suspended = api.accounts(other.sid).update(status="suspended")
    assert suspended.status == "suspended"
    assert [a.sid for a in api.accounts.list(status="suspended")] == [other.sid]
    assert [a.sid for a in api.accounts.list(status="active")] == [ACCOUNT_SID, sub.sid]
    with pytest.raises(TwilioException) as bad:  # twilio-python's error for a list page
        api.accounts.list(status="frozen")
    assert bad.value.args[1].status_code == 400 and '"code":20001' in bad.value.args[1].text

    # a subaccount sees only itself; it cannot reach its parent or a sibling
    own = twilio_client(emu.url, sub.sid, sub.auth_token).api
    assert [a.sid for a in own.accounts.list()] == [sub.sid]
    assert own.accounts(sub.sid).fetch().auth_token == sub.auth_token
    _refused(lambda: own.accounts(ACCOUNT_SID).fetch(), 401, 20003)
    _refused(lambda: own.accounts(other.sid).fetch(), 401, 20003)
    _refused(lambda: own.accounts.create(friendly_name="grandchild"), 403, 20403)
    _refused(lambda: own.accounts(sub.sid).update(status="closed"), 403, 20403)
    with pytest.raises(TwilioException) as parents_calls:
        own.accounts(ACCOUNT_SID).calls.list()
    assert parents_calls.value.args[1].status_code == 401
    _refused(lambda: api.accounts("AC" + "9" * 32).fetch(), 401, 20003)
    # a main account's status is not changed through the API
    _refused(lambda: api.accounts(ACCOUNT_SID).update(status="suspended"), 403, 20403)


def _signed_with(hit: Hit, token: str) -> bool:
    return RequestValidator(token).validate(
        hit.url, dict(hit.params), hit.headers.get("x-twilio-signature", "")
    )


def test_subaccount_call_with_parent_credentials_is_signed_with_its_own_token(
    emu: Emu, receiver: Receiver
) -> None:
    sub = emu.client.api.accounts.create(friendly_name="tenant-b")
    # Client(parent, token).api.accounts(sub).calls.create: the parent acts for the sub
    call = emu.client.api.accounts(sub.sid).calls.create(
        to=TO,
        from_=FROM,
        twiml=TWIML,
        status_callback=receiver.url("/status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert call.account_sid == sub.sid
    # the sub's own credentials place calls too
    own = twilio_client(emu.url, sub.sid, sub.auth_token)
    own_call = own.calls.create(
        to=TO, from_=FROM, twiml=TWIML, status_callback=receiver.url("/status")
    )
    assert [c.sid for c in own.calls.list()] == [own_call.sid, call.sid]
    assert call.sid not in [c.sid for c in emu.client.calls.list()]  # not the parent's calls
    hits = receiver.wait(
        lambda: h if len(h := receiver.for_call(call.sid)) == 4 else None, "4 callbacks"
    )
    assert {h.p["AccountSid"] for h in hits} == {sub.sid}
    for hit in hits:
        assert _signed_with(hit, sub.auth_token), hit
        assert not _signed_with(hit, AUTH_TOKEN) and not hit.valid  # not the parent's token
    done = receiver.wait(lambda: receiver.for_call(own_call.sid), "the own call's callback")
    assert _signed_with(done[0], sub.auth_token)
    assert {e["account_sid"] for e in emu.requests()} == {sub.sid}


def test_inbound_call_of_a_subaccount_is_signed_with_its_token(
    emu: Emu, receiver: Receiver
) -> None:
    sub = emu.client.api.accounts.create(friendly_name="tenant-e")
    receiver.twiml["/voice"] = "<Response><Hangup/></Response>"
    body = {
        "from": "+14155550100",
        "to": "+14155550199",
        "voice_url": receiver.url("/voice"),
        "status_callback": receiver.url("/status"),
        "account_sid": sub.sid,
    }
    r = httpx.post(emu.url + "/emulator/inbound", json=body)
    assert r.status_code == 201, r.text
    parent = r.json()["call_sid"]
    hits = receiver.wait(
        lambda: h if len(h := receiver.for_call(parent)) == 2 else None, "voice request, callback"
    )
    assert [h.path for h in hits] == ["/voice", "/status"]
    for hit in hits:
        assert hit.p["AccountSid"] == sub.sid and _signed_with(hit, sub.auth_token), hit
    unknown = httpx.post(
        emu.url + "/emulator/inbound", json={**body, "account_sid": "AC" + "7" * 32}
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown-account"


def test_suspended_and_closed_subaccounts_are_refused(emu: Emu) -> None:
    api = emu.client.api
    sub = api.accounts.create(friendly_name="tenant-c")
    own = twilio_client(emu.url, sub.sid, sub.auth_token)
    own.calls.create(to=TO, from_=FROM, twiml=TWIML)

    api.accounts(sub.sid).update(status="suspended")
    _refused(lambda: own.calls.create(to=TO, from_=FROM, twiml=TWIML), 401, 20005)
    _refused(lambda: own.api.accounts(sub.sid).fetch(), 401, 20005)
    _refused(lambda: api.accounts(sub.sid).calls.create(to=TO, from_=FROM, twiml=TWIML), 401, 20005)
    assert api.accounts(sub.sid).update(status="active").status == "active"
    own.calls.create(to=TO, from_=FROM, twiml=TWIML)  # reactivated: works again

    closed = api.accounts(sub.sid).update(status="closed")
    assert closed.status == "closed"
    _refused(lambda: own.calls.create(to=TO, from_=FROM, twiml=TWIML), 401, 20005)
    with pytest.raises(TwilioException) as listing:
        api.accounts(sub.sid).calls.list()
    assert listing.value.args[1].status_code == 401 and '"code":20005' in listing.value.args[1].text
    _refused(lambda: api.accounts(sub.sid).update(status="active"), 400, 20001)
    # the parent still sees it, closed
    assert api.accounts(sub.sid).fetch().status == "closed"
    assert [a.sid for a in api.accounts.list(status="closed")] == [sub.sid]
    created = [e for e in emu.requests() if e["call_sid"]]
    assert len(created) == 2  # refused creates never reach the call log


def test_each_account_and_subaccount_has_its_own_cps_queue(
    make_emulator: Callable[..., Emu],
) -> None:
    cps = 4.0
    emu = make_emulator(cps=cps, extra_accounts={OTHER_SID: OTHER_TOKEN})
    sub = emu.client.api.accounts.create(friendly_name="tenant-d")
    clients = {
        ACCOUNT_SID: emu.client,
        OTHER_SID: twilio_client(emu.url, OTHER_SID, OTHER_TOKEN),
        sub.sid: twilio_client(emu.url, sub.sid, sub.auth_token),
    }
    per_account = 4
    for _ in range(per_account):  # interleaved arrivals: a single queue would serialise them
        for n, client in enumerate(clients.values()):
            client.calls.create(to=f"+1555000{n:04d}", from_=FROM, twiml=TWIML)

    def left() -> list[dict[str, Any]] | None:
        entries = emu.requests()
        done = len(entries) == 3 * per_account and all(e["left_queue_at"] for e in entries)
        return entries if done else None

    entries = wait_until(left, timeout=per_account / cps + 15, what="every queue drained")
    times = {
        sid: sorted(e["left_queue_at"] for e in entries if e["account_sid"] == sid)
        for sid in clients
    }
    for sid, ts in times.items():
        assert len(ts) == per_account, sid
        gaps = [b - a for a, b in itertools.pairwise(ts)]
        assert min(gaps) >= 1 / cps, (sid, gaps)
    # the three accounts' calls left side by side, not one account's behind another's:
    # with one shared queue every two calls would leave at least 1/cps apart
    firsts = [ts[0] for ts in times.values()]
    assert max(firsts) - min(firsts) < 1 / cps, firsts
    everything = sorted(t for ts in times.values() for t in ts)
    assert everything[-1] - everything[0] < (per_account + 1) / cps, everything
