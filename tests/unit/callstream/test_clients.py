"""Voice SDK client identities and ``client:`` addresses (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callstream import clients

valid = st.from_regex(r"[A-Za-z0-9_.@-]{1,256}", fullmatch=True)


@given(valid)
def test_an_identity_round_trips_through_its_address(identity: str) -> None:
    address = clients.address(identity)
    assert clients.is_client_address(address)
    assert clients.identity_of(address) == identity


@given(valid, st.sampled_from(list(" \t\n:/<>%+\"'\\#?&;,é\u0000")), st.integers(0, 256))
def test_a_character_outside_the_rule_is_refused(identity: str, bad: str, at: int) -> None:
    broken = identity[:at] + bad + identity[at:]
    assert not clients.is_identity(broken)
    assert clients.identity_of("client:" + broken) is None


def test_edges() -> None:
    assert clients.is_identity("a" * 256) and not clients.is_identity("a" * 257)
    assert not clients.is_identity("")
    assert clients.identity_of("client:") is None
    assert clients.identity_of("alice") is None  # no prefix
    assert clients.identity_of("Client:alice") is None  # the prefix is lower case
