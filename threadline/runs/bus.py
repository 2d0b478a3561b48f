"""Signals between the API and executors: new work, and changes to a run in flight.

The embedded engine uses `LocalBus` (one process). Across processes the database stays
the source of truth: workers also poll for work and executors re-read their run's status
at least every `check_interval`, so a missed signal only costs latency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from threadline.protocol.runs import Run

__all__ = ["Bus", "LocalBus", "Update"]


class Update:
    """The next update of one run, once it comes: with the run as it was written, when the
    one who wrote it said so (in one process, a waiter then needs no read of its own)."""

    def __init__(self) -> None:
        self._done = asyncio.Event()
        self.run: Run | None = None

    def set(self, run: Run | None) -> None:
        self.run = run
        self._done.set()

    def is_set(self) -> bool:
        return self._done.is_set()

    async def wait(self) -> None:
        await self._done.wait()


class Bus(Protocol):
    def work_available(self) -> None:
        """A run was queued or needs an executor (e.g. it is cancelling)."""

    def run_changed(self, run_id: str) -> None:
        """A run's status was changed from outside its executor (cancel, expiry)."""

    async def wait_for_work(self, seconds: float) -> None:
        """Return when work is signalled, or after `seconds`."""

    def watch(self, run_id: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on each `run_changed(run_id)`; returns the function that stops it."""

    def forget(self, run_id: str) -> None:
        """Drop what is kept for a run whose executor has finished."""

    def run_updated(self, run_id: str, run: Run | None = None) -> None:
        """A run's status changed (to `run`, when the caller has it as it was written);
        wakes `wait_for_update` callers."""

    def expect_update(self, run_id: str) -> Update:
        """What the next `run_updated(run_id)` sets. Taken before the run is read and
        passed to `wait_for_update`, an update between the read and the wait is not lost."""

    async def wait_for_update(
        self, run_id: str, seconds: float, expected: Update | None = None
    ) -> Run | None:
        """Return when `run_updated(run_id)` is signalled (since `expected` was taken), with
        the run it told of, if any; or after `seconds`, with None."""


class LocalBus:
    """The in-process bus."""

    def __init__(self) -> None:
        self._work = asyncio.Event()
        self._updates: dict[str, Update] = {}
        self._watchers: dict[str, list[Callable[[], None]]] = {}

    def work_available(self) -> None:
        self._work.set()

    def run_changed(self, run_id: str) -> None:
        for callback in list(self._watchers.get(run_id, ())):
            callback()
        self._work.set()

    def watch(self, run_id: str, callback: Callable[[], None]) -> Callable[[], None]:
        watchers = self._watchers.setdefault(run_id, [])
        watchers.append(callback)

        def stop() -> None:
            watchers.remove(callback)
            if not watchers:
                self._watchers.pop(run_id, None)

        return stop

    async def wait_for_work(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._work.wait()
        except TimeoutError:
            return
        finally:
            self._work.clear()

    def forget(self, run_id: str) -> None:
        self._watchers.pop(run_id, None)

    def run_updated(self, run_id: str, run: Run | None = None) -> None:
        update = self._updates.pop(run_id, None)
        if update is not None:
            update.set(run)

    def expect_update(self, run_id: str) -> Update:
        update = self._updates.get(run_id)
        if update is None:
            update = self._updates[run_id] = Update()
        return update

    async def wait_for_update(
        self, run_id: str, seconds: float, expected: Update | None = None
    ) -> Run | None:
        update = expected if expected is not None else self.expect_update(run_id)
        try:
            async with asyncio.timeout(seconds):
                await update.wait()
        except TimeoutError:
            return None
        return update.run
