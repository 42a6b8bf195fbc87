"""Twilio's REST error body and the codes the emulator answers with.

Shape (2010 API): ``{"code", "message", "more_info", "status"}``; twilio-python turns it into
``TwilioRestException`` with ``.code`` and ``.status``.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse


@dataclass(frozen=True)
class TwilioError(Exception):
    status: int
    code: int
    message: str

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def authenticate() -> TwilioError:
    return TwilioError(401, 20003, "Authenticate")


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def missing_to() -> TwilioError:
    return TwilioError(400, 21201, "No 'To' number is specified")


def missing_from() -> TwilioError:
    return TwilioError(400, 21213, "No 'From' number is specified")


def invalid_to(value: str) -> TwilioError:
    return TwilioError(400, 21211, f"Invalid 'To' Phone Number: {value}")


def invalid_from(value: str) -> TwilioError:
    return TwilioError(400, 21212, f"Invalid 'From' Phone Number: {value}")


def missing_url() -> TwilioError:
    return TwilioError(400, 21205, "Url parameter is required.")


def invalid_url(name: str, value: str) -> TwilioError:
    return TwilioError(400, 21205, f"{name} is not a valid URL: {value}")


def invalid_status_callback(value: str) -> TwilioError:
    return TwilioError(400, 21609, f"Invalid StatusCallback URL: {value}")


def invalid_events() -> TwilioError:
    return TwilioError(400, 21626, "One or more of the StatusCallbackEvents provided were invalid.")


def invalid_timeout(raw: str) -> TwilioError:
    return TwilioError(400, 21208, f"Invalid timeout value: {raw[:20]!r}")


def invalid_method(name: str, raw: str) -> TwilioError:
    return TwilioError(400, 21209, f"Invalid {name} value: {raw[:20]!r} (GET or POST)")


def call_not_in_progress() -> TwilioError:
    """Redirecting or hanging up a call that already ended."""
    return TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")


def bad_request(message: str) -> TwilioError:
    return TwilioError(400, 20001, message)


def too_many_requests() -> TwilioError:
    return TwilioError(429, 20429, "Too Many Requests")


def internal_error() -> TwilioError:
    return TwilioError(500, 20500, "Internal Server Error")


def unavailable() -> TwilioError:
    return TwilioError(503, 20503, "Service Unavailable")
