"""Server-sent events: the framing of one event, and the streaming response."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from threadline.protocol.common import wire_json
from threadline.runs.events import Event

__all__ = ["DONE", "KEEPALIVE", "encode", "sse_response"]

DONE = b"event: done\ndata: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"


def encode(event: Event) -> bytes:
    """`event: <name>` / `data: <json>` / blank line."""
    return b"event: " + event.event.encode() + b"\ndata: " + wire_json(event.data) + b"\n\n"


async def _framed(events: AsyncIterator[Event | None]) -> AsyncIterator[bytes]:
    async for event in events:
        yield KEEPALIVE if event is None else encode(event)
    yield DONE


def sse_response(events: AsyncIterator[Event | None]) -> StreamingResponse:
    """Stream `events` (None: a keep-alive comment), then `done`."""
    return StreamingResponse(
        _framed(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
