from __future__ import annotations

from pathlib import Path

import pytest

from callstream.settings import Settings, SettingsError

SID = "AC" + "a" * 32


def test_defaults_match_the_contract() -> None:
    s = Settings.from_env(env={})
    assert s.kafka_bootstrap_servers is None
    assert s.twilio_api_url == "https://api.twilio.com"
    assert s.db == Path("callstream.db")
    assert s.spool == Path("callstream-spool.db")
    assert s.cps == 1.0
    assert s.topic(s.topic_prefix + "x") == "x"


def test_env_is_read_and_flags_override_it() -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "a:1,b:2",
        "CALLSTREAM_CPS": "2.5",
        "CALLSTREAM_DB": "/tmp/x.db",
    }
    s = Settings.from_env(env=env, db="/tmp/y.db")
    assert s.kafka_bootstrap_servers == "a:1,b:2"
    assert s.cps == 2.5
    assert s.db == Path("/tmp/y.db")


def test_blank_variables_count_as_unset() -> None:
    assert Settings.from_env(env={"CALLSTREAM_PUBLIC_URL": "  "}).public_url is None


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_ACCOUNT_SID"),
        ({"CALLSTREAM_PUBLIC_URL": "hooks.example.com"}, "CALLSTREAM_PUBLIC_URL"),
        ({"CALLSTREAM_PUBLIC_URL": "https://h/x?y=1"}, "query"),
        ({"TWILIO_API_URL": "ftp://x"}, "TWILIO_API_URL"),
        ({"CALLSTREAM_CPS": "fast"}, "CALLSTREAM_CPS"),
        ({"CALLSTREAM_CPS": "0"}, "CALLSTREAM_CPS"),
        ({"CALLSTREAM_CPS": "nan"}, "CALLSTREAM_CPS"),
        ({"CALLSTREAM_FORWARD_TO": "5551234"}, "CALLSTREAM_FORWARD_TO"),
        ({"CALLSTREAM_KAFKA_PROFILE": "redpanda"}, "CALLSTREAM_KAFKA_PROFILE"),
        ({"CALLSTREAM_TOPIC_PREFIX": "a b"}, "CALLSTREAM_TOPIC_PREFIX"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(env=env)


def test_require_lists_every_missing_variable() -> None:
    s = Settings.from_env(env={"TWILIO_ACCOUNT_SID": SID})
    with pytest.raises(SettingsError) as e:
        s.require("twilio_account_sid", "twilio_auth_token", "public_url")
    assert "TWILIO_AUTH_TOKEN" in str(e.value) and "CALLSTREAM_PUBLIC_URL" in str(e.value)
    assert "TWILIO_ACCOUNT_SID" not in str(e.value)


def test_public_url_trailing_slash_and_status_callback() -> None:
    s = Settings.from_env(env={"CALLSTREAM_PUBLIC_URL": "https://example.com/cs/"})
    assert s.public_base == "https://example.com/cs"
    assert s.status_callback_url == "https://example.com/cs/twilio/status"


def test_redacted_hides_secrets() -> None:
    s = Settings.from_env(env={"TWILIO_AUTH_TOKEN": "sekret", "CALLSTREAM_API_TOKEN": "tok"})
    r = s.redacted()
    assert r["twilio_auth_token"] == "***" and r["api_token"] == "***"
    assert "sekret" not in repr(r) and "tok'" not in repr(r)
