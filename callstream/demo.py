"""``callstream up --demo``: a few calls with mixed outcomes, their state shown live.

The emulator gets a scenario file that gives each demo number its own fate; the requests
go through the real path (``dialer.requests`` → dialer → emulator → signed callbacks →
ingest → topic → projector), and the table shown is read from the projector's API.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from callstream.callstatus import TERMINAL

FROM = "+15005550001"
DEMO_CALLS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("+15005550101", "answered, short talk", {"outcome": "answered", "ring": 2, "talk": 4}),
    ("+15005550102", "busy", {"outcome": "busy", "ring": 1}),
    ("+15005550103", "no answer", {"outcome": "no-answer"}),
    ("+15005550104", "failed (SIP 404)", {"outcome": "failed", "ring": 1, "sip_code": 404}),
    (
        "+15005550105",
        "voicemail",
        {"outcome": "machine", "ring": 3, "talk": 6, "answered_by": "machine_end_beep"},
    ),
    ("+15005550106", "answered, long talk", {"outcome": "answered", "ring": 1, "talk": 12}),
)


def scenario_file(folder: Path) -> Path:
    """Write the emulator scenario file for the demo numbers; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo-scenarios.json"
    numbers = {to: outcome for to, _, outcome in DEMO_CALLS}
    path.write_text(json.dumps({"numbers": numbers}, indent=2))
    return path


def enqueue(settings: Any) -> list[str]:
    """Put the demo requests on ``dialer.requests``; return their ids."""
    from callstream import kafka_clients, topics
    from callstream.dialrequest import from_input

    assert settings.twilio_account_sid
    producer = kafka_clients.make_producer(settings, "callstream-demo")
    ids = []
    try:
        for to, label, _ in DEMO_CALLS:
            req = from_input(
                {
                    "to": to,
                    "from": FROM,
                    "twiml": f"<Response><Say>callstream demo: {label}</Say></Response>",
                },
                settings.twilio_account_sid,
            )
            kafka_clients.produce_and_wait(
                producer,
                settings.topic(topics.DIALER_REQUESTS),
                req.to_json(),
                req.account_sid.encode(),
                timeout_s=10,
            )
            ids.append(req.id)
    finally:
        producer.close()
    return ids


def render(calls: list[dict[str, Any]], started: float) -> str:
    by_to = {c.get("to_number"): c for c in calls}
    lines = [
        f"callstream demo — {time.monotonic() - started:5.1f} s "
        "(calls leave at 1 per second; Ctrl-C stops everything)",
        "",
    ]
    lines.append(f"  {'to':<14} {'scenario':<22} {'status':<12} {'events':>6}  call")
    for to, label, _ in DEMO_CALLS:
        c = by_to.get(to)
        status = c["status"] if c else "requested"
        events = str(c.get("events_count", "")) if c else ""
        sid = c["call_sid"] if c else ""
        lines.append(f"  {to:<14} {label:<22} {status:<12} {events:>6}  {sid}")
    return "\n".join(lines)


def changes(seen: dict[str, str], calls: list[dict[str, Any]]) -> list[str]:
    """One line per demo call whose status is new since ``seen`` (updated in place): what a
    log or a CI job gets instead of the redrawn table."""
    by_to = {c.get("to_number"): c for c in calls}
    out = []
    for to, label, _ in DEMO_CALLS:
        c = by_to.get(to)
        status = c["status"] if c else "requested"
        if seen.get(to) != status:
            seen[to] = status
            sid = f" {c['call_sid']}" if c else ""
            out.append(f"demo: {to} ({label}) {status}{sid}")
    return out


def run_demo(env: dict[str, str], children: list[Any], stop: threading.Event) -> None:
    """Enqueue the demo calls and show their projected state until all have ended: redrawn
    in place on a terminal, one line per change otherwise. ``env`` is the services'
    environment (the Twilio account is filled in by then)."""
    import httpx

    from callstream.settings import Settings

    settings = Settings.from_env(env)
    projector = next(c for c in children if c.name == "projector")
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    enqueue(settings)
    started = time.monotonic()
    tty = sys.stderr.isatty()
    last = ""
    seen: dict[str, str] = {}
    refused = ""
    while not stop.wait(0.5):
        try:
            r = httpx.get(
                projector.url + "/calls", params={"limit": 100}, headers=headers, timeout=2
            )
        except httpx.HTTPError:
            continue
        if r.status_code != 200:
            why = f"demo: the projector answered {r.status_code} to GET /calls: {r.text[:200]}"
            if why != refused:  # say it once, not every half second
                sys.stderr.write(why + "\n")
                sys.stderr.flush()
                refused = why
            continue
        try:
            calls = r.json().get("calls", [])
        except ValueError:
            continue
        if tty:
            screen = render(calls, started)
            if screen != last:
                sys.stderr.write("\x1b[2J\x1b[H" + screen + "\n\n")
                last = screen
        else:
            for line in changes(seen, calls):
                sys.stderr.write(line + "\n")
        sys.stderr.flush()
        mine = [c for c in calls if c.get("to_number") in {to for to, _, _ in DEMO_CALLS}]
        if len(mine) == len(DEMO_CALLS) and all(c["status"] in TERMINAL for c in mine):
            sys.stderr.write(
                "every demo call reached its final state. "
                "Try: callstream calls   (Ctrl-C to stop)\n"
            )
            sys.stderr.flush()
            return
