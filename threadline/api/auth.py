"""Bearer-key authentication as a pure ASGI middleware."""

from __future__ import annotations

import hmac

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from threadline.errors import envelope

__all__ = ["BearerAuth"]

_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def _masked(key: str) -> str:
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


class BearerAuth:
    """Refuses requests under `/v1` without one of `keys`; other paths pass."""

    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        self.keys = tuple(k.encode() for k in keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            await _refuse(send, _MISSING, None)
            return
        if not any(hmac.compare_digest(token, key) for key in self.keys):
            shown = _masked(token.decode(errors="replace"))
            message = f"Incorrect API key provided: {shown}."
            await _refuse(send, message, "invalid_api_key")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, message: str, code: str | None) -> None:
    body = orjson.dumps(envelope(message, "invalid_request_error", None, code))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
