"""The Voice SDK settings: caller ID, dial allow-list, TwiML app, API key and secret."""

from __future__ import annotations

import pytest

from callstream.settings import Settings, SettingsError

APP = "AP" + "ab" * 16
KEY = "SK" + "cd" * 16


def test_voip_settings_are_read_and_checked() -> None:
    s = Settings.from_env(
        env={
            "CALLSTREAM_CALLER_ID": "+14155550100",
            "CALLSTREAM_DIAL_ALLOW": " +1415, +44 ,,",
            "CALLSTREAM_TWIML_APP_SID": APP,
            "TWILIO_API_KEY": KEY,
            "TWILIO_API_SECRET": "api-secret-value",
            "CALLSTREAM_FORWARD_TO": "client:bob",
        }
    )
    assert s.caller_id == "+14155550100" and s.dial_allow == ("+1415", "+44")
    assert (s.twiml_app_sid, s.twilio_api_key, s.forward_to) == (APP, KEY, "client:bob")
    assert s.redacted()["twilio_api_secret"] == "***"
    assert Settings.from_env(env={}).dial_allow == ()


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("CALLSTREAM_CALLER_ID", "client:alice", "CALLSTREAM_CALLER_ID"),
        ("CALLSTREAM_DIAL_ALLOW", "+", "CALLSTREAM_DIAL_ALLOW"),
        ("CALLSTREAM_DIAL_ALLOW", "+1,1415", "CALLSTREAM_DIAL_ALLOW"),
        ("CALLSTREAM_DIAL_ALLOW", "*", "CALLSTREAM_DIAL_ALLOW"),
        ("CALLSTREAM_TWIML_APP_SID", "AP123", "CALLSTREAM_TWIML_APP_SID"),
        ("TWILIO_API_KEY", "AC" + "cd" * 16, "TWILIO_API_KEY"),
        ("CALLSTREAM_FORWARD_TO", "client:bad name", "CALLSTREAM_FORWARD_TO"),
        ("CALLSTREAM_FORWARD_TO", "sip:bob@example.com", "CALLSTREAM_FORWARD_TO"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env={var: value})
