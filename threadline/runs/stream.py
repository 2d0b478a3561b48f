"""A streaming request's view of a run: events handed from a background executor.

The process that answers `stream: true` stores the run claimed by itself (as it is
created, or as its tool outputs are taken) and executes it, so events never cross
processes. The executor runs in its own task, not in the response, so a client that goes
away neither stops nor corrupts the run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

from threadline.protocol.messages import Message
from threadline.protocol.runs import Run
from threadline.runs.events import Event
from threadline.runs.worker import Worker
from threadline.store.base import Claim

__all__ = ["RunStream", "open_stream"]

KEEPALIVE_SECONDS = 15.0


class _End:
    """Marks the end of the stream in the queue."""


_END = _End()


class RunStream:
    """A queue of events with keep-alive markers (None) in long silences."""

    def __init__(self, keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        self._queue: asyncio.Queue[Event | _End | None] = asyncio.Queue()
        self._reading = True
        self._keepalive_seconds = keepalive_seconds
        self._last_put = time.monotonic()

    def put(self, event: Event) -> None:
        if self._reading:
            self._queue.put_nowait(event)
            self._last_put = time.monotonic()

    def finish(self) -> None:
        self._queue.put_nowait(_END)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_seconds)
            if time.monotonic() - self._last_put >= self._keepalive_seconds:
                self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[list[Event | None]]:
        """The events until the run stops for the client, in batches of those that were
        waiting together (written at once); None means 'keep alive'."""
        keepalive = asyncio.create_task(self._keepalive())
        try:
            while True:
                batch = [await self._queue.get()]
                while not self._queue.empty() and not isinstance(batch[-1], _End):
                    batch.append(self._queue.get_nowait())
                ended = isinstance(batch[-1], _End)
                events = [item for item in batch if not isinstance(item, _End)]
                if events:
                    yield events
                if ended:
                    return
        finally:
            self._reading = False
            keepalive.cancel()


async def open_stream(
    worker: Worker,
    run: Run,
    prelude: Sequence[Event] = (),
    keepalive_seconds: float = KEEPALIVE_SECONDS,
    history: Sequence[Message] | None = None,
    *,
    resumed: bool = False,
) -> RunStream:
    """Start executing `run`, stored in progress and claimed by this worker (`Worker.lease`),
    and return the stream of its events. `history` is its thread's when the caller knows it
    whole (a thread just created); `resumed`: the run goes on after its tool outputs."""
    stream = RunStream(keepalive_seconds)
    for event in prelude:
        stream.put(event)
    claim = Claim(run, 0, born=not resumed, resumed=resumed, history=history)
    await worker.spawn(claim, stream.put, stream.finish)
    return stream
