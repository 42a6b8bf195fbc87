"""ingest's wiring: settings checked once, one-line startup errors before anything serves,
and the ports as given."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from callstream import web
from callstream.errors import StartupError
from callstream.settings import Settings, SettingsError
from ingest import service
from ingest.bootstrap import REQUIRED, check_spool, create_app
from ingest.producer_port import KafkaProducerFactory
from tests.unit.ingest.fakes import FakeProducerFactory, unit_settings


def test_the_settings_are_checked_once_and_the_app_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, ...]] = []
    require = Settings.require

    def counting(self: Settings, *names: str) -> None:
        calls.append(names)
        require(self, *names)

    served: list[tuple[Any, ...]] = []
    monkeypatch.setattr(Settings, "require", counting)
    monkeypatch.setattr(web, "serve", lambda *a, **kw: served.append(a))
    monkeypatch.setattr("callstream.logs.configure", lambda *a: None)
    service.run_service(unit_settings(tmp_path), "127.0.0.1", 38999)
    assert calls.count(REQUIRED) == 1  # (public_base asks for public_url on its own)
    assert [a[1:] for a in served] == [("127.0.0.1", 38999, "ingest")]


def test_a_spool_that_cannot_be_opened_is_one_startup_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    settings = dataclasses.replace(unit_settings(tmp_path), spool=tmp_path / "file" / "spool.db")
    with pytest.raises(StartupError, match=r"cannot open the spool .*CALLSTREAM_SPOOL"):
        check_spool(settings)


def test_a_missing_setting_is_a_settings_error(tmp_path: Path) -> None:
    settings = dataclasses.replace(unit_settings(tmp_path), public_url=None)
    with pytest.raises(SettingsError, match="CALLSTREAM_PUBLIC_URL"):
        create_app(settings, producer_factory=FakeProducerFactory())


def test_the_kafka_port_is_the_default_and_refuses_a_producer_too_small(tmp_path: Path) -> None:
    app = create_app(unit_settings(tmp_path))
    assert isinstance(app.state.publisher._new_producer, KafkaProducerFactory)
    with pytest.raises(ValueError, match="max_request_size"):
        create_app(unit_settings(tmp_path), producer_options={"max_request_size": 1000})
