"""Errors a request can end with, each carrying the HTTP status and the plain-text message Azure gives."""

from __future__ import annotations

INTERNAL_ERROR_MESSAGE = (
    "The server encountered an internal error. Please retry the request. If the issue persists, please contact support."
)


class ServiceError(Exception):
    """A request that cannot be served; ``status`` and ``message`` are what the client receives.

    The message is plain text, unless ``quoted``: then it is a JSON string literal, as Azure writes the
    outcome of a workitem transaction. With ``warning`` the message is also sent in a ``Warning`` header.
    """

    status = 500

    def __init__(
        self, message: str = "", headers: dict[str, str] | None = None, quoted: bool = False, warning: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.quoted = quoted
        self.warning = warning


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    """No valid bearer token; the body is empty and ``WWW-Authenticate`` says why."""

    status = 401


class Forbidden(ServiceError):
    status = 403


AUTHORIZATION_FAILED = "Authorization failed."


class NotFound(ServiceError):
    status = 404


class NotAcceptable(ServiceError):
    status = 406


class Conflict(ServiceError):
    status = 409


class PayloadTooLarge(ServiceError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request exceeded the allowed limit of {limit} bytes.")


class UnsupportedMediaType(ServiceError):
    status = 415


class ServiceUnavailable(ServiceError):
    status = 503


DATA_STORE_FAILED = "Data store operation failed."
"""Azure's 503 text when its internal store of instance files fails during a request."""


INVALID_UID_MESSAGE = (
    "DICOM Identifier is invalid. Value length should not exceed the maximum length of 64 characters. "
    "Value should contain characters in '0'-'9' and '.'. Each component must start with non-zero number."
)
STUDY_NOT_FOUND = "The specified study cannot be found."
SERIES_NOT_FOUND = "The specified series cannot be found."
INSTANCE_NOT_FOUND = "The specified instance cannot be found."
FRAME_NOT_FOUND = "The specified frame cannot be found."


def resource_not_found(series_uid: str | None, sop_uid: str | None) -> NotFound:
    """Azure's 404 for a missing study, series or instance: the most specific level the request named."""
    return NotFound(INSTANCE_NOT_FOUND if sop_uid else SERIES_NOT_FOUND if series_uid else STUDY_NOT_FOUND)
