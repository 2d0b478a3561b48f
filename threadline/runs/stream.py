"""A streaming request's view of a run: events handed from a background executor.

The process that answers `stream: true` claims the run and executes it itself, so events
never cross processes on the hot path. The executor runs in its own task, not in the
response, so a client that goes away neither stops nor corrupts the run. When another
process holds the run (it claimed it first, or is recovering it), the stream follows the
run through the store instead (`follow`), with whole-message deltas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

from threadline.protocol.messages import Message
from threadline.protocol.runs import Run
from threadline.runs.events import Event
from threadline.runs.follow import follow
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
    leased: bool = False,
    history: Sequence[Message] | None = None,
) -> RunStream:
    """Start executing (or following) `run` and return the stream of its events. A
    `leased` run was stored already claimed by this worker (`Worker.lease`); `history` is
    its thread's when the caller knows it whole (a thread just created)."""
    stream = RunStream(keepalive_seconds)
    for event in prelude:
        stream.put(event)
    claim: Claim | None = Claim(run, 0, born=True, history=history)
    if not leased:
        claim = await worker.store.claim_run(
            run.id, worker.owner, time.time(), worker.config.lease_seconds
        )
    if claim is not None:
        await worker.spawn(claim, stream.put, stream.finish)
    else:
        following = follow(worker.store, worker.bus, run, stream.put)
        worker.track(following, stream.put, stream.finish)
    return stream
