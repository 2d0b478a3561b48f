"""Server-sent events: the framing of one event, and the streaming response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from starlette.responses import StreamingResponse

from threadline.protocol.common import wire_json
from threadline.runs.events import Event

__all__ = ["DONE", "KEEPALIVE", "encode", "sse_response"]

DONE = b"event: done\ndata: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"


def encode(event: Event) -> bytes:
    """`event: <name>` / `data: <json>` / blank line."""
    return b"event: " + event.event.encode() + b"\ndata: " + wire_json(event.data) + b"\n\n"


async def _framed(batches: AsyncIterator[Sequence[Event | None]]) -> AsyncIterator[bytes]:
    async for batch in batches:
        yield b"".join(KEEPALIVE if event is None else encode(event) for event in batch)
    yield DONE


def sse_response(batches: AsyncIterator[Sequence[Event | None]]) -> StreamingResponse:
    """Stream the events (None: a keep-alive comment), each batch in one write, then
    `done`."""
    return StreamingResponse(
        _framed(batches),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
