"""The pure rules of :mod:`emulator.accounts` and the Accounts list's paging, for any
tree of accounts (Hypothesis): who reaches whom, inactive accounts refused, every account
listed exactly once across pages."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.account_routes import accounts_page
from emulator.accounts import AccountBook, basic_credentials, parse_account_flags
from emulator.errors import TwilioError

MAINS = [f"AC{i:032x}" for i in range(1, 4)]


def _auth(sid: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


def _book(owners: list[int], statuses: list[str]) -> AccountBook:
    """Three main accounts; subaccount k belongs to MAINS[owners[k]], with statuses[k]."""
    book = AccountBook({sid: f"tok-{sid[-4:]}" for sid in MAINS}, 0.0)
    for k, owner in enumerate(owners):
        parent = book.get(MAINS[owner])
        assert parent is not None
        sub = book.create_subaccount(parent, f"AC{0xF000 + k:032x}", f"sub-{k}", None, 1.0)
        if statuses[k] != "active":
            book.update(parent, sub, statuses[k], None, 2.0)
    return book


trees = st.integers(0, 6).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
        st.lists(st.sampled_from(["active", "suspended", "closed"]), min_size=n, max_size=n),
    )
)


@given(trees)
def test_credentials_reach_only_themselves_and_their_subaccounts(
    tree: tuple[list[int], list[str]],
) -> None:
    book = _book(*tree)
    accounts = list(book)
    for caller in accounts:
        auth = _auth(caller.sid, caller.auth_token)
        if caller.status != "active":
            with pytest.raises(TwilioError) as e:
                book.caller(auth)
            assert e.value.code == 20005
            continue
        me = book.caller(auth)
        for target in accounts:
            allowed = target.sid == me.sid or target.owner_account_sid == me.sid
            if not allowed:
                with pytest.raises(TwilioError) as e:
                    book.reachable(me, target.sid)
                assert (e.value.status, e.value.code) == (401, 20003)
                continue
            assert book.reachable(me, target.sid) is target
            if target.status == "active":
                assert book.acting_on(auth, target.sid) is target
            else:
                with pytest.raises(TwilioError) as e:
                    book.acting_on(auth, target.sid)
                assert e.value.code == 20005
        # another account's token never authenticates this SID
        for other in accounts:
            if other.auth_token != caller.auth_token:
                with pytest.raises(TwilioError):
                    book.caller(_auth(caller.sid, other.auth_token))


@given(trees, st.integers(1, 5), st.sampled_from([None, "active", "closed"]))
def test_pages_list_every_visible_account_once(
    tree: tuple[list[int], list[str]], size: int, status: str | None
) -> None:
    book = _book(*tree)
    parent = book.get(MAINS[0])
    assert parent is not None
    visible = book.visible_to(parent)
    assert visible[0] is parent
    assert all(a.owner_account_sid == parent.sid for a in visible)
    want = [a.sid for a in visible if status is None or a.status == status]
    got: list[str] = []
    page = 0
    while True:
        query = {"PageSize": str(size), "Page": str(page)}
        if status:
            query["Status"] = status
        body = accounts_page(visible, query)
        accounts = body["accounts"]
        assert isinstance(accounts, list)
        got += [a["sid"] for a in accounts]
        if body["next_page_uri"] is None:
            break
        page += 1
    assert got == want


def test_basic_credentials_and_flags() -> None:
    assert basic_credentials(_auth("AC1", "a:b")) == ("AC1", "a:b")  # a token may hold ':'
    for bad in ("", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        assert basic_credentials(bad) is None, bad
    two = parse_account_flags([f"{MAINS[1]}:t1", f"{MAINS[2]}:t2"], MAINS[0])
    assert two == {MAINS[1]: "t1", MAINS[2]: "t2"}
    for bad in (MAINS[1], f"{MAINS[0]}:x", "AC12:x", f"{MAINS[1]}: x", f"{MAINS[1]}:"):
        with pytest.raises(ValueError, match="--account"):
            parse_account_flags([bad], MAINS[0])
