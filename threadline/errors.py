"""Typed errors raised by services and the store, rendered as OpenAI's error envelope."""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "ServerError",
    "envelope",
]


class APIError(Exception):
    """An error with an HTTP status and OpenAI's `{"error": {...}}` body."""

    status_code = 500
    error_type = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return envelope(self.message, self.error_type, self.param, self.code)


class InvalidRequestError(APIError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(APIError):
    status_code = 401
    error_type = "invalid_request_error"


class NotFoundError(APIError):
    status_code = 404
    error_type = "invalid_request_error"

    @classmethod
    def for_object(cls, kind: str, object_id: str) -> NotFoundError:
        return cls(f"No {kind} found with id '{object_id}'.")


class ConflictError(APIError):
    status_code = 409
    error_type = "invalid_request_error"


class ServerError(APIError):
    status_code = 500
    error_type = "server_error"


def envelope(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}
