"""Signals between the API and executors: new work, and changes to a run in flight.

The embedded engine uses `LocalBus` (one process). Across processes the database stays
the source of truth: workers also poll for work and executors re-read their run's status
at least every `check_interval`, so a missed signal only costs latency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

__all__ = ["Bus", "LocalBus"]


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

    def run_updated(self, run_id: str) -> None:
        """A run's status changed; wakes `wait_for_update` callers."""

    def expect_update(self, run_id: str) -> asyncio.Event:
        """The event the next `run_updated(run_id)` sets. Taken before the run is read and
        passed to `wait_for_update`, an update between the read and the wait is not lost."""

    async def wait_for_update(
        self, run_id: str, seconds: float, expected: asyncio.Event | None = None
    ) -> None:
        """Return when `run_updated(run_id)` is signalled (since `expected` was taken), or
        after `seconds`."""


class LocalBus:
    """The in-process bus."""

    def __init__(self) -> None:
        self._work = asyncio.Event()
        self._updates: dict[str, asyncio.Event] = {}
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

    def run_updated(self, run_id: str) -> None:
        event = self._updates.pop(run_id, None)
        if event is not None:
            event.set()

    def expect_update(self, run_id: str) -> asyncio.Event:
        return self._updates.setdefault(run_id, asyncio.Event())

    async def wait_for_update(
        self, run_id: str, seconds: float, expected: asyncio.Event | None = None
    ) -> None:
        event = expected if expected is not None else self.expect_update(run_id)
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return
