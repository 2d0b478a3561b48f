"""The HTTP side of a chat-completions call: one POST to an OpenAI-compatible endpoint over
aiohttp, its failures as typed errors, and the server-sent events of a streamed answer.

aiohttp rather than the SDK's own HTTP client (httpx2): measured on the 2-core development
machine, one call cost ~1.4 ms of CPU through httpx2, whose pool checks every idle
connection's socket on each request, and ~0.19 ms through aiohttp (docs/performance.md).
The SDK's response types still read what comes back (`inference.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import certifi
import orjson

__all__ = [
    "UpstreamBrokenError",
    "UpstreamHTTP",
    "UpstreamStatusError",
    "UpstreamTimeoutError",
    "UpstreamUnreachableError",
    "env_proxy",
    "events",
]

# How long the end of a streamed body (after `[DONE]`) is waited for: a response released
# before its end takes its connection with it, and the next call connects anew.
_DRAIN_SECONDS = 0.1


class UpstreamTimeoutError(Exception):
    """No answer, or no next byte of one, within the timeout."""


class UpstreamUnreachableError(Exception):
    """The endpoint could not be reached, or dropped the connection before answering."""


class UpstreamStatusError(Exception):
    """The endpoint answered with an HTTP error; `detail` is its own message."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class UpstreamBrokenError(Exception):
    """A 200 answer that is not one: an `error` in its body, or a body that is not JSON."""


def _encoded(body: dict[str, Any]) -> bytes:
    """The request body as JSON: by orjson, or by the standard library where a value is
    beyond orjson (an integer past 64 bits: a client's `max_completion_tokens` of 10**20,
    a number in a function's parameter schema), which writes it as it was given."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False).encode()


class UpstreamHTTP:
    """POSTs JSON to one URL on a pool of kept-alive connections (no cap on how many: 1,000
    streams at once need 1,000). The pool is made on first use, inside the event loop."""

    def __init__(self, url: str, api_key: str, timeout: float) -> None:
        self._url = url
        self._headers = {
            "Authorization": f"Bearer {api_key or 'unused'}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "threadline",
        }
        # Per step, as httpx's timeout was: connecting, and each wait for the next bytes.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._proxy = env_proxy(url)
        self._session: aiohttp.ClientSession | None = None

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=certifi.where())
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=context),
                timeout=self._timeout,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """The response to `body`, its body not read yet; an HTTP error is raised as
        `UpstreamStatusError` (its body read)."""
        try:
            response = await self._pool().post(
                self._url, data=_encoded(body), headers=self._headers, proxy=self._proxy
            )
        except TimeoutError as err:
            raise UpstreamTimeoutError() from err
        except (aiohttp.ClientError, OSError) as err:
            raise UpstreamUnreachableError(str(err) or type(err).__name__) from err
        if response.status >= 400:
            try:
                content = await _read(response)
            finally:
                response.release()
            raise UpstreamStatusError(response.status, _detail(response.status, content))
        return response

    async def post_whole(self, body: dict[str, Any]) -> object:
        """The JSON of the (non-streamed) answer to `body`."""
        response = await self.post(body)
        try:
            return _data(await _read(response))
        finally:
            response.release()


def env_proxy(url: str) -> str | None:
    """The proxy that HTTPS_PROXY / HTTP_PROXY (and NO_PROXY) name for `url`, as the SDK's
    client honours them; read once, since aiohttp's `trust_env` reads them (and ~/.netrc)
    again in a thread on every request."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


async def _read(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    except TimeoutError as err:
        raise UpstreamTimeoutError() from err
    except aiohttp.ClientError as err:
        raise UpstreamUnreachableError(str(err) or type(err).__name__) from err


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[object]:
    """The JSON data of each server-sent event until `[DONE]`, then the end of the body
    (read briefly, to keep the connection); an event that carries an `error` raises
    `UpstreamBrokenError`, as the SDK raises it."""
    data: list[bytes] = []
    async for line in _lines(response):
        if line.startswith(b"data:"):
            data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif not line and data:  # a blank line ends the event
            text, data = b"\n".join(data), []
            if text.startswith(b"[DONE]"):
                await _drain(response)
                return
            yield _data(text)
    if data and not data[0].startswith(b"[DONE]"):  # the last event, unterminated
        yield _data(b"\n".join(data))


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The body's lines, without their endings (LF, CRLF or CR)."""
    pending = b""
    async for chunk in response.content.iter_any():
        pending += chunk
        if pending.endswith(b"\r"):
            continue  # the LF of a CRLF may follow
        lines = pending.splitlines()
        pending = b"" if pending.endswith(b"\n") else lines.pop() if lines else b""
        for line in lines:
            yield line
    for line in pending.splitlines():
        yield line


async def _drain(response: aiohttp.ClientResponse) -> None:
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while await response.content.readany():
                pass


def _data(text: bytes) -> object:
    try:
        event: object = orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise UpstreamBrokenError(f"the model's answer is not JSON: {text[:200]!r}") from err
    if isinstance(event, dict) and event.get("error"):
        raise UpstreamBrokenError(_message(event["error"]) or str(event["error"]))
    return event


def _detail(status: int, content: bytes) -> str:
    """The endpoint's own error message, from OpenAI's envelope or whatever it sent."""
    try:
        body: object = orjson.loads(content)
    except orjson.JSONDecodeError:
        text = content.decode("utf-8", "replace").strip()
        return text or f"Error code: {status}"
    if isinstance(body, dict):
        message = _message(body.get("error", body))
        if message is not None:
            return message
    return f"Error code: {status} - {body}"


def _message(error: object) -> str | None:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return None
