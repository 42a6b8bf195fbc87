from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from callstream import kafka_clients
from callstream.broker import EmbeddedBroker
from callstream.settings import Settings
from tests.brokers import TestBroker, chosen_backend, start_backend
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN


def pytest_report_header(config: pytest.Config) -> str:
    return f"callstream test broker: {chosen_backend()}"


@pytest.fixture(scope="session")
def broker() -> Iterator[TestBroker]:
    """The session's broker, chosen in tests/brokers.py."""
    with start_backend(chosen_backend()) as b:
        yield b


@pytest.fixture
def fresh_broker() -> Iterator[EmbeddedBroker]:
    """A broker of the test's own (embedded), for tests that kill or restart it."""
    with EmbeddedBroker() as b:
        yield b


def make_settings(bootstrap: str, profile: str, tmp: Path, **extra: object) -> Settings:
    return Settings.from_env(
        env={},
        kafka_bootstrap_servers=bootstrap,
        kafka_profile=profile,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_url="https://hooks.example.com",
        db=str(tmp / "callstream.db"),
        spool=str(tmp / "spool.db"),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        **extra,
    )


@pytest.fixture
def settings(broker: TestBroker, tmp_path: Path) -> Settings:
    """Settings on the session broker with topics of this test's own (a unique prefix)."""
    s = make_settings(broker.bootstrap, broker.profile.name, tmp_path)
    kafka_clients.ensure_topics(s)
    return s
