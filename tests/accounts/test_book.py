"""AccountBook: configured plus discovered accounts, refreshes, and the rate limit that
keeps a flood of made-up AccountSids from becoming a flood of listings."""

from __future__ import annotations

import logging
import threading

import pytest

from callstream.accounts import Account
from callstream.subaccounts import AccountBook

P = Account("AC" + "1" * 32, "parent-token", source="file")
Q = Account("AC" + "2" * 32, "other-token", source="file")
S = "AC" + "3" * 32


class Lister:
    def __init__(self) -> None:
        self.subs: dict[str, list[Account]] = {P.sid: [], Q.sid: []}
        self.calls = 0
        self.fail: set[str] = set()

    def __call__(self, parent: Account) -> list[Account]:
        self.calls += 1
        if parent.sid in self.fail:
            raise RuntimeError(f"listing failed for {parent.auth_token}")
        return list(self.subs[parent.sid])


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def book(lister: Lister, clock: Clock) -> AccountBook:
    return AccountBook([P, Q], lister, lookup_interval_s=30, clock=clock)


def test_discovered_subaccounts_carry_their_parent() -> None:
    lister, clock = Lister(), Clock()
    lister.subs[P.sid] = [Account(S, "sub-token", friendly_name="customer 1"), P]
    b = book(lister, clock)
    assert b.get(S) is None
    b.refresh()
    got = b.get(S)
    assert got is not None and got.parent_sid == P.sid and got.source == "discovered"
    assert b.parent(got) == P
    assert [a.sid for a in b.all()] == [P.sid, Q.sid, S]  # the parent is not listed twice
    assert b.first == P


def test_closed_and_suspended_subaccounts_are_refused() -> None:
    lister, clock = Lister(), Clock()
    lister.subs[P.sid] = [Account(S, "t", status="closed")]
    b = book(lister, clock)
    b.refresh()
    assert b.get(S) is None and b.lookup(S) is None
    assert b.known(S) is not None and b.known(S).status == "closed"  # type: ignore[union-attr]
    lister.subs[P.sid] = [Account(S, "t", status="suspended")]
    b.refresh()
    assert b.get(S) is None


def test_a_flood_of_unknown_sids_costs_one_listing_per_interval() -> None:
    lister, clock = Lister(), Clock()
    b = book(lister, clock)
    for i in range(500):
        assert b.lookup(f"AC{i:032x}") is None
    assert lister.calls == 2  # one listing: one call per configured account
    clock.t += 29
    for i in range(500):
        b.lookup(f"AC{i + 1000:032x}")
    assert lister.calls == 2
    clock.t += 2
    lister.subs[P.sid] = [Account(S, "sub-token")]
    assert b.lookup(S) is not None  # a real new subaccount is found on the next window
    assert lister.calls == 4
    assert b.lookup("not-a-sid") is None and lister.calls == 4


def test_concurrent_lookups_share_one_listing() -> None:
    lister, clock = Lister(), Clock()
    b = book(lister, clock)
    threads = [threading.Thread(target=b.lookup, args=(f"AC{i:032x}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lister.calls == 2


def test_a_failed_listing_keeps_what_was_found_and_logs_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lister, clock = Lister(), Clock()
    lister.subs[P.sid] = [Account(S, "sub-token")]
    b = book(lister, clock)
    b.refresh()
    lister.fail.add(P.sid)
    caplog.set_level(logging.WARNING, logger="callstream.accounts")
    b.refresh()
    assert b.get(S) is not None
    assert caplog.records
    assert all("parent-token" not in str(r.__dict__) for r in caplog.records)
    lister.fail.clear()
    lister.subs[P.sid] = []
    b.refresh()
    assert b.get(S) is None  # gone from Twilio's list: forgotten


def test_configured_account_wins_over_a_listing_and_learns_its_parent() -> None:
    lister, clock = Lister(), Clock()
    lister.subs[P.sid] = [Account(Q.sid, "listed-token")]
    b = book(lister, clock)
    b.refresh()
    q = b.get(Q.sid)
    assert q is not None and q.auth_token == "other-token" and q.source == "file"
    assert q.parent_sid == P.sid
