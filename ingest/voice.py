"""``POST /twilio/voice``: the TwiML for a call Twilio asks about, signed like a status
callback.

The decision is :func:`ingest.voice_routing.route` (pure); this module renders it as TwiML
and counts and logs it. Every ``<Number>`` and ``<Client>`` is subscribed to all four
progress events with callstream's own status callback URL, so every leg's progress comes
back to ingest. A refused call hears why and is hung up; nothing is dialled.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from callstream.metrics import labelled_counter
from ingest import voice_routing as vr
from ingest.callback import CallbackError
from ingest.metrics import IngestMetrics
from ingest.status import reject
from ingest.twilio_request import ClientGone, TwilioRequestReader

log = logging.getLogger("callstream.ingest")

# A space-separated string: twilio-python's builder would write a Python list as its repr.
EVENTS = "initiated ringing answered completed"
NOT_CONFIGURED = "This line is not configured. Goodbye."
NOT_ALLOWED = "This application may not call that number. Goodbye."
NOT_VALID = "That destination is not valid. Goodbye."
ROUTES = ("dial-number", "dial-client", "refused")


def twiml(decision: vr.Route, status_callback_url: str) -> str:
    response = VoiceResponse()
    subscribe = {
        "status_callback_event": EVENTS,
        "status_callback": status_callback_url,
        "status_callback_method": "POST",
    }
    if isinstance(decision, vr.DialNumber):
        # caller_id None: no attribute, Twilio then shows the caller's own number
        response.dial(caller_id=decision.caller_id).number(decision.number, **subscribe)
    elif isinstance(decision, vr.DialClient):
        response.dial().client(decision.identity, **subscribe)
    else:
        response.say(refusal_words(decision.reason))
        response.hangup()
    return str(response)


def refusal_words(reason: str) -> str:
    if reason == "not-configured":
        return NOT_CONFIGURED
    if reason in ("not-allowed", "no-caller-id"):
        return NOT_ALLOWED
    return NOT_VALID


class VoiceMetrics:
    def __init__(self, metrics: IngestMetrics) -> None:
        _, self.calls = labelled_counter(
            "callstream_ingest_voice_calls",
            "POST /twilio/voice answers by route: dial-number, dial-client, refused",
            "route",
            ROUTES,
            metrics.registry,
        )
        _, self.refused = labelled_counter(
            "callstream_ingest_voice_refused",
            "POST /twilio/voice calls refused, by reason",
            "reason",
            vr.REASONS,
            metrics.registry,
        )


class VoiceRoute:
    def __init__(
        self,
        reader: TwilioRequestReader,
        metrics: IngestMetrics,
        config: vr.VoipConfig,
        status_callback_url: str,
    ) -> None:
        self.reader = reader
        self.metrics = metrics
        self.voice_metrics = VoiceMetrics(metrics)
        self.config = config
        self.status_callback_url = status_callback_url

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            request = await self.reader.read(scope, receive)
        except CallbackError as e:
            await reject(scope, receive, send, e, self.metrics)
            return
        except ClientGone:
            return
        params: dict[str, list[str]] = {}
        for name, value in request.params:
            params.setdefault(name, []).append(value)
        decision = vr.route(params, self.config)
        self._count(decision, params, request.identity.call_sid)
        body = twiml(decision, self.status_callback_url).encode("utf-8")
        await Response(body, media_type="application/xml")(scope, receive, send)

    def _count(self, decision: vr.Route, params: dict[str, list[str]], call_sid: str) -> None:
        if isinstance(decision, vr.DialNumber):
            self.voice_metrics.calls["dial-number"].inc()
        elif isinstance(decision, vr.DialClient):
            self.voice_metrics.calls["dial-client"].inc()
        else:
            self.voice_metrics.calls["refused"].inc()
            self.voice_metrics.refused[decision.reason].inc()
            # The reason, the caller and a masked destination: never the full number.
            log.warning(
                "voice call refused",
                extra={
                    "reason": decision.reason,
                    "call_sid": call_sid,
                    "caller": vr.caller_for_log(_first(params, "From")),
                    "to": vr.masked(_first(params, "To")),
                },
            )


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None
