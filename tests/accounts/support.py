"""Helpers for the accounts tests that run the real processes."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.ingest.support import FORM, call_sid, callback, form, sign


def account_file(tmp_path: Path, sid: str, cps: float, name: str | None = None) -> Path:
    """One [[account]] table whose tokens come from B_TOKEN and B_SECOND."""
    f = tmp_path / "accounts.toml"
    text = f'[[account]]\nsid = "{sid}"\nauth_token_env = "B_TOKEN"\n'
    text += f'secondary_auth_token_env = "B_SECOND"\ncps = {cps}\n'
    if name is not None:
        text += f'friendly_name = "{name}"\n'
    f.write_text(text, encoding="utf-8")
    return f


def post_for(
    c: httpx.Client, ingest: str, public: str, account_sid: str, token: str
) -> httpx.Response:
    """A status callback naming ``account_sid``, signed with ``token``."""
    pairs = [("AccountSid", account_sid), *callback(call_sid())[1:]]
    sig = sign(public + "/twilio/status", pairs, token=token)
    return c.post(
        ingest + "/twilio/status",
        content=form(pairs),
        headers={"content-type": FORM, "x-twilio-signature": sig},
    )
