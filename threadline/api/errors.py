"""Exception handlers: every error leaves as OpenAI's envelope, never a traceback."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from threadline.api.http import json_response
from threadline.errors import APIError, envelope

__all__ = ["EXCEPTION_HANDLERS"]

logger = logging.getLogger("threadline.api")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return json_response(exc.body(), exc.status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        message = f"Invalid URL ({request.method} {request.url.path})"
        body = envelope(message, "invalid_request_error")
    else:
        body = envelope(str(exc.detail), "invalid_request_error")
    return json_response(body, exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    message = "The server had an error while processing your request. Sorry about that!"
    return json_response(envelope(message, "server_error"), 500)


EXCEPTION_HANDLERS = {
    APIError: _api_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
