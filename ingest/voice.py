"""``POST /twilio/voice``: the TwiML for an inbound call, signed like a status callback.

With ``CALLSTREAM_FORWARD_TO`` set the call is dialed on to that number, subscribed to all
four progress events with callstream's own status callback URL; without it the caller
hears that the line is not configured and the call hangs up.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from ingest.callback import CallbackError
from ingest.metrics import IngestMetrics
from ingest.status import reject
from ingest.twilio_request import ClientGone, TwilioRequestReader

# A space-separated string: twilio-python's builder would write a Python list as its repr.
EVENTS = "initiated ringing answered completed"
NOT_CONFIGURED = "This line is not configured. Goodbye."


def twiml(forward_to: str | None, status_callback_url: str) -> str:
    response = VoiceResponse()
    if forward_to:
        dial = response.dial()
        dial.number(
            forward_to,
            status_callback_event=EVENTS,
            status_callback=status_callback_url,
            status_callback_method="POST",
        )
    else:
        response.say(NOT_CONFIGURED)
        response.hangup()
    return str(response)


class VoiceRoute:
    def __init__(
        self,
        reader: TwilioRequestReader,
        metrics: IngestMetrics,
        forward_to: str | None,
        status_callback_url: str,
    ) -> None:
        self.reader = reader
        self.metrics = metrics
        self.body = twiml(forward_to, status_callback_url).encode("utf-8")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await self.reader.read(scope, receive)
        except CallbackError as e:
            await reject(scope, receive, send, e, self.metrics)
            return
        except ClientGone:
            return
        await Response(self.body, media_type="application/xml")(scope, receive, send)
