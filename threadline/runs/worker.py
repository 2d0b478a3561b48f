"""Workers: claim queued runs from the store, execute them under a lease, and sweep.

The database is the queue. A worker leases a run before executing it and a heartbeat
extends every lease it holds; a run whose holder died is claimed again once its lease
lapses and resumed from its last persisted step. A sweeper expires runs past
`expires_at`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from threadline.ids import new_id, now
from threadline.protocol.messages import Message
from threadline.protocol.runs import Run
from threadline.protocol.stream import StreamError
from threadline.runs.bus import Bus
from threadline.runs.closing import end_run
from threadline.runs.events import Event
from threadline.runs.executor import Executor
from threadline.runs.states import TERMINAL
from threadline.store.base import Claim, Lease, Store

__all__ = ["Worker", "WorkerConfig"]

logger = logging.getLogger("threadline.worker")

Listener = Callable[[str, Event], None]

STREAM_BROKE = Event(
    "error",
    StreamError.of(
        "The server had an error while streaming the run; retrieve it to see where it stands."
    ),
)


# A streamed run's executor lets the response write after this many events.
YIELD_EVERY = 16


async def _head_start() -> None:
    """Let a run's executor, just started, go as far as its first wait (the model call
    sent) before the caller answers its client: the model call is on the run's way to its
    end, the answer to the client (the run as created, the stream's first events) is not."""
    await asyncio.sleep(0)


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 256
    lease_seconds: float = 30.0
    poll_interval: float = 1.0
    sweep_interval: float = 1.0
    # Seconds between reads of the held runs' statuses, to see cancels and expiries made
    # by other processes; None when this process is the only one (the bus tells it all).
    watch_interval: float | None = None


def _lets_go(event: Event) -> bool:
    """The run's lease needs no write of its own to let go: the run ended (it is never
    claimed again), or waits for its tool outputs (the write that said so let it go)."""
    data = event.data
    return isinstance(data, Run) and (data.status in TERMINAL or data.status == "requires_action")


class Worker:
    def __init__(
        self,
        store: Store,
        executor: Executor,
        bus: Bus,
        config: WorkerConfig | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.bus = bus
        self.config = config or WorkerConfig()
        self.listener = listener
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id('worker')[7:15]}"
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._held: dict[str, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._claiming = False

    async def start(self, claim: bool = True) -> None:
        """Start the heartbeat; with `claim`, also claim queued runs and sweep expired ones
        (an API-only replica executes only the runs it streams)."""
        self._loops = [asyncio.create_task(self._heartbeat_loop(), name="threadline-heartbeat")]
        if self.config.watch_interval is not None:
            self._loops.append(asyncio.create_task(self._watch_loop(self.config.watch_interval)))
        self._claiming = claim
        if claim:
            self._loops += [
                asyncio.create_task(self._claim_loop(), name="threadline-claim"),
                asyncio.create_task(self._sweep_loop(), name="threadline-sweep"),
            ]

    def lease(self) -> Lease:
        """A lease on a run for this worker, from now."""
        return Lease(self.owner, time.time() + self.config.lease_seconds)

    async def reserve(self) -> Lease | None:
        """A slot and a lease for a run this process will store already claimed and execute
        at once (`adopt`): no claim to wait for. None when it claims no runs or has no slot
        free: the run is then stored queued for whichever worker claims it."""
        if not self._claiming or self._slots.locked():
            return None
        await self._slots.acquire()  # free: returns at once
        return self.lease()

    def unreserve(self) -> None:
        """Give back the slot of a `reserve` whose run was not stored."""
        self._slots.release()

    async def adopt(
        self, run: Run, history: Sequence[Message] | None = None, *, resumed: bool = False
    ) -> None:
        """Execute `run`, stored already claimed under a lease from `reserve`, in its slot;
        `history`: its thread's, when the caller knows it whole (a thread just created);
        `resumed`: the run goes on after its tool outputs. Returns once the executor waits
        for the first time."""
        claim = Claim(run, 0, born=not resumed, resumed=resumed, history=history)
        self._held[run.id] = asyncio.create_task(self._drain(claim), name=f"run-{run.id}")
        await _head_start()

    async def spawn(
        self, claim: Claim, sink: Callable[[Event], None], done: Callable[[], None]
    ) -> None:
        """Execute a run this process claimed for a stream, in a task of its own (outside
        the worker's concurrency slots): `sink` sees each event, `done` the end. Returns
        once the executor waits for the first time."""

        async def drain() -> None:
            answered, count = False, 0
            try:
                async for event in self.execute(claim):
                    sink(event)
                    # Let the response write what came so far: at the first delta (a burst
                    # of buffered model chunks would otherwise all be processed before the
                    # first is sent), with the events before it in the same write; then
                    # every few events, so that a burst goes out in a few writes instead
                    # of one per event.
                    first = not answered and event.event.endswith(".delta")
                    answered = answered or first
                    count += 1
                    if first or (answered and count % YIELD_EVERY == 0):
                        await asyncio.sleep(0)
            except Exception:
                logger.exception("streaming run %s broke off", claim.run.id)
                sink(STREAM_BROKE)
            finally:
                self._held.pop(claim.run.id, None)
                done()

        self._held[claim.run.id] = asyncio.create_task(drain(), name=f"run-{claim.run.id}")
        await _head_start()

    async def stop(self) -> None:
        """Stop claiming, stop executing, and hand every held run back at once."""
        tasks = [*self._loops, *self._held.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []

    async def execute(self, claim: Claim, watched: bool = True) -> AsyncIterator[Event]:
        """Execute a claimed run under this worker's lease, yielding its events (`watched`:
        to a client that streams them)."""
        let_go = False
        try:
            async for event in self.executor.execute(claim, watched):
                if self.listener is not None:
                    self.listener(claim.run.id, event)
                let_go = _lets_go(event)
                yield event
        finally:
            if not let_go:
                await self.store.release_run(claim.run.id, self.owner)

    async def _claim_loop(self) -> None:
        while True:
            await self._slots.acquire()
            claim = await self._claim()
            if claim is None:
                self._slots.release()
                await self.bus.wait_for_work(self.config.poll_interval)
                continue
            task = asyncio.create_task(self._drain(claim), name=f"run-{claim.run.id}")
            self._held[claim.run.id] = task

    async def _claim(self) -> Claim | None:
        try:
            return await self.store.claim_next_run(
                self.owner, time.time(), self.config.lease_seconds
            )
        except Exception:
            logger.exception("claiming a run failed; retrying")
            return None

    async def _drain(self, claim: Claim) -> None:
        try:
            async for _ in self.execute(claim, watched=False):
                pass
        finally:
            self._held.pop(claim.run.id, None)
            self._slots.release()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.lease_seconds / 3)
            held = list(self._held)
            if not held:
                continue
            try:
                kept = await self.store.renew_leases(
                    self.owner, held, time.time(), self.config.lease_seconds
                )
            except Exception:
                logger.exception("renewing leases failed")
                continue
            for run_id in set(held) - kept:
                logger.warning("lost the lease of run %s; stopping its executor", run_id)
                task = self._held.get(run_id)
                if task is not None:
                    task.cancel()

    async def _watch_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.watch()
            except Exception:
                logger.exception("reading the held runs' statuses failed")

    async def watch(self) -> None:
        """Tell the executors of held runs that another process stopped (cancelled or
        expired) to stop."""
        held = list(self._held)
        if not held:
            return
        for run_id, status in (await self.store.run_statuses(held)).items():
            if status not in ("queued", "in_progress"):
                self.bus.run_changed(run_id)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("expiring runs failed")
            await asyncio.sleep(self.config.sweep_interval)

    async def sweep(self) -> int:
        """Expire every active run past its `expires_at`; returns how many."""
        expired = 0
        for run in await self.store.runs_to_expire(now(), 100):
            events = await end_run(self.store, run.id, "expired")
            if events:
                expired += 1
                self.bus.run_changed(run.id)
                for event in events:
                    if self.listener is not None:
                        self.listener(run.id, event)
        return expired
