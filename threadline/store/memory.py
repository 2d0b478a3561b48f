"""The in-memory store: the public fake for tests, held to the same contract as SQL."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from threadline.protocol.assistants import Assistant
from threadline.protocol.common import ListQuery
from threadline.protocol.files import FileObject
from threadline.protocol.messages import Message
from threadline.protocol.runs import Run, RunStep
from threadline.protocol.threads import Thread
from threadline.runs.states import ACTIVE
from threadline.store.base import Claim, Lease, Page, Purgeable, RunEnding, ThreadBusyError
from threadline.store.memory_tables import Row, Table
from threadline.store.memory_vectors import MemoryVectorStores

__all__ = ["MemoryStore"]


@dataclass
class _Lease:
    owner: str | None = None
    until: float = 0.0
    recoveries: int = 0


class MemoryStore(MemoryVectorStores):
    """Everything in dicts; each method is atomic because nothing in it awaits."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self._assistants: Table[Assistant] = Table()
        self._threads: Table[Thread] = Table()
        self._messages: Table[Message] = Table()
        self._runs: Table[Run] = Table()
        self._steps: Table[RunStep] = Table()
        self._files: Table[FileObject] = Table()
        self._leases: dict[str, _Lease] = {}
        self._init_vectors()

    async def close(self) -> None:
        return None

    # Assistants
    async def insert_assistant(self, assistant: Assistant) -> None:
        self._assistants.add(next(self._seq), assistant)

    async def get_assistant(self, assistant_id: str) -> Assistant | None:
        return self._assistants.get(assistant_id)

    async def replace_assistant(self, assistant: Assistant) -> bool:
        return self._assistants.replace(assistant)

    async def delete_assistant(self, assistant_id: str) -> bool:
        return self._assistants.rows.pop(assistant_id, None) is not None

    async def list_assistants(self, query: ListQuery) -> Page[Assistant]:
        return self._assistants.page(query, lambda _: True)

    # Threads
    async def insert_thread(self, thread: Thread, messages: Sequence[Message] = ()) -> None:
        self._threads.add(next(self._seq), thread)
        for message in messages:
            self._messages.add(next(self._seq), message)

    async def get_thread(self, thread_id: str) -> Thread | None:
        return self._threads.get(thread_id)

    async def replace_thread(self, thread: Thread) -> bool:
        return self._threads.replace(thread)

    async def delete_thread(self, thread_id: str) -> bool:
        if self._threads.rows.pop(thread_id, None) is None:
            return False
        _drop_thread(self._messages, thread_id)
        _drop_thread(self._runs, thread_id)
        _drop_thread(self._steps, thread_id)
        return True

    # Messages
    async def insert_message(self, message: Message) -> bool:
        if message.thread_id not in self._threads.rows:
            return False
        if message.run_id is None:
            self._check_idle(message.thread_id)
        self._messages.add(next(self._seq), message)
        return True

    async def get_message(self, thread_id: str, message_id: str) -> Message | None:
        message = self._messages.get(message_id)
        return message if message is not None and message.thread_id == thread_id else None

    async def replace_message(self, message: Message) -> bool:
        current = await self.get_message(message.thread_id, message.id)
        return current is not None and self._messages.replace(message)

    async def delete_message(self, thread_id: str, message_id: str) -> bool:
        if await self.get_message(thread_id, message_id) is None:
            return False
        del self._messages.rows[message_id]
        return True

    async def list_messages(
        self, thread_id: str, query: ListQuery, run_id: str | None = None
    ) -> Page[Message]:
        def keep(m: Message) -> bool:
            return m.thread_id == thread_id and (run_id is None or m.run_id == run_id)

        return self._messages.page(query, keep, lambda m: m.thread_id == thread_id)

    # Runs
    def _active_run(self, thread_id: str) -> Run | None:
        for row in reversed(self._runs.rows.values()):
            if row.item.thread_id == thread_id and row.item.status in ACTIVE:
                return row.item
        return None

    def _check_idle(self, thread_id: str) -> None:
        active = self._active_run(thread_id)
        if active is not None:
            raise ThreadBusyError(thread_id, active.id)

    async def insert_run(
        self,
        run: Run,
        messages: Sequence[Message] = (),
        thread: Thread | None = None,
        lease: Lease | None = None,
    ) -> bool:
        if thread is not None:
            self._threads.add(next(self._seq), thread)
        elif run.thread_id not in self._threads.rows:
            return False
        self._check_idle(run.thread_id)
        for message in messages:
            self._messages.add(next(self._seq), message)
        self._runs.add(next(self._seq), run)
        self._leases[run.id] = _Lease(*((lease.owner, lease.until) if lease else ()))
        return True

    async def get_run(self, thread_id: str, run_id: str) -> Run | None:
        run = self._runs.get(run_id)
        return run if run is not None and run.thread_id == thread_id else None

    async def list_runs(self, thread_id: str, query: ListQuery) -> Page[Run]:
        return self._runs.page(query, lambda r: r.thread_id == thread_id)

    async def update_run(
        self, run_id: str, change: Callable[[Run], Run], *, release: bool = False
    ) -> Run | None:
        row = self._runs.rows.get(run_id)
        if row is None:
            return None
        row.item = change(row.item)
        if release:
            self._hold(run_id, None)
        return row.item

    def _hold(self, run_id: str, lease: Lease | None) -> None:
        held = self._leases[run_id]
        held.owner, held.until = (lease.owner, lease.until) if lease else (None, 0.0)

    async def resume_run(
        self,
        run_id: str,
        change: Callable[[Run], Run],
        step: tuple[str, Callable[[RunStep], RunStep]] | None = None,
        lease: Lease | None = None,
    ) -> Run | None:
        row = self._runs.rows.get(run_id)
        if row is None:
            return None
        run = change(row.item)
        if step is not None and (found := self._steps.rows.get(step[0])) is not None:
            found.item = step[1](found.item)
        row.item = run
        self._hold(run_id, lease)
        return run

    async def end_run(
        self,
        run_id: str,
        change: Callable[[Run], Run],
        close_step: Callable[[RunStep], RunStep],
        close_message: Callable[[Message], Message],
        created: tuple[RunStep, Message] | None = None,
    ) -> RunEnding | None:
        run = await self.update_run(run_id, change)
        if run is None:
            return None
        steps = _close_open(self._steps, lambda s: s.run_id == run_id, close_step)
        messages = _close_open(self._messages, lambda m: m.run_id == run_id, close_message)
        if created is not None:
            step, message = close_step(created[0]), close_message(created[1])
            self._steps.add(next(self._seq), step)
            await self.insert_message(message)
            steps.append(step)
            messages.append(message)
        return RunEnding(run, steps, messages)

    def _claimable(self, run: Run, now: float) -> bool:
        lease = self._leases[run.id]
        if run.status in ("queued", "cancelling"):
            return lease.owner is None or lease.until <= now
        return run.status == "in_progress" and lease.until <= now

    def _lease(self, run: Run, owner: str, now: float, lease_seconds: float) -> Claim:
        lease = self._leases[run.id]
        if run.status == "in_progress":
            lease.recoveries += 1
        lease.owner, lease.until = owner, now + lease_seconds
        return Claim(run, lease.recoveries)

    async def claim_next_run(self, owner: str, now: float, lease_seconds: float) -> Claim | None:
        for row in self._runs.rows.values():
            if self._claimable(row.item, now):
                return self._lease(row.item, owner, now, lease_seconds)
        return None

    async def claim_run(
        self, run_id: str, owner: str, now: float, lease_seconds: float
    ) -> Claim | None:
        run = self._runs.get(run_id)
        if run is None or not self._claimable(run, now):
            return None
        return self._lease(run, owner, now, lease_seconds)

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], now: float, lease_seconds: float
    ) -> set[str]:
        held = set()
        for run_id in run_ids:
            lease = self._leases.get(run_id)
            if lease is not None and lease.owner == owner:
                lease.until = now + lease_seconds
                held.add(run_id)
        return held

    async def release_run(self, run_id: str, owner: str) -> None:
        lease = self._leases.get(run_id)
        if lease is not None and lease.owner == owner:
            lease.owner, lease.until = None, 0.0

    async def run_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        found = (self._runs.get(run_id) for run_id in run_ids)
        return {run.id: run.status for run in found if run is not None}

    async def runs_to_expire(self, now: int, limit: int) -> list[Run]:
        due = [
            r.item
            for r in self._runs.rows.values()
            if r.item.status in ACTIVE
            and r.item.expires_at is not None
            and r.item.expires_at <= now
        ]
        return due[:limit]

    # Run steps
    async def insert_step(self, step: RunStep, message: Message | None = None) -> None:
        self._steps.add(next(self._seq), step)
        if message is not None:
            await self.insert_message(message)

    async def get_step(self, thread_id: str, run_id: str, step_id: str) -> RunStep | None:
        step = self._steps.get(step_id)
        if step is None or step.thread_id != thread_id or step.run_id != run_id:
            return None
        return step

    async def update_step(
        self, step_id: str, change: Callable[[RunStep], RunStep]
    ) -> RunStep | None:
        row = self._steps.rows.get(step_id)
        if row is None:
            return None
        row.item = change(row.item)
        return row.item

    async def delete_step(self, step_id: str) -> bool:
        return self._steps.rows.pop(step_id, None) is not None

    async def list_steps(self, thread_id: str, run_id: str, query: ListQuery) -> Page[RunStep]:
        def keep(s: RunStep) -> bool:
            return s.run_id == run_id and s.thread_id == thread_id

        return self._steps.page(query, keep)

    async def run_steps(self, run_id: str) -> list[RunStep]:
        return [r.item for r in self._steps.rows.values() if r.item.run_id == run_id]

    async def thread_history(self, thread_id: str) -> list[Message | RunStep]:
        rows: list[Row[Message] | Row[RunStep]] = [
            r for r in self._messages.rows.values() if r.item.thread_id == thread_id
        ]
        rows += [
            r
            for r in self._steps.rows.values()
            if r.item.thread_id == thread_id and r.item.type == "tool_calls"
        ]
        return [r.item for r in sorted(rows, key=lambda r: r.seq)]

    # Files
    async def insert_file(self, file: FileObject) -> None:
        self._files.add(next(self._seq), file)

    async def get_file(self, file_id: str) -> FileObject | None:
        return self._files.get(file_id)

    async def list_files(
        self, purpose: str | None, query: ListQuery, now: int | None = None
    ) -> Page[FileObject]:
        def keep(f: FileObject) -> bool:
            live = now is None or f.expires_at is None or f.expires_at > now
            return live and (purpose is None or f.purpose == purpose)

        return self._files.page(query, keep, lambda _: True)

    async def delete_file(self, file_id: str) -> bool:
        return self._files.rows.pop(file_id, None) is not None

    # Operations
    async def find_run(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    async def recent_runs(self, status: str | None, limit: int) -> list[Run]:
        rows = sorted(self._runs.rows.values(), key=lambda row: row.seq, reverse=True)
        runs = [row.item for row in rows if status is None or row.item.status == status]
        return runs[:limit]

    async def count_active_runs(self) -> dict[str, int]:
        statuses = (row.item.status for row in self._runs.rows.values())
        return dict(Counter(status for status in statuses if status in ACTIVE))

    async def purgeable(self, before: int, limit: int) -> Purgeable:
        touched = {
            item.thread_id
            for table in (self._messages, self._runs)
            for item in (row.item for row in table.rows.values())
            if item.created_at >= before
        }
        touched |= {r.item.thread_id for r in self._runs.rows.values() if r.item.status in ACTIVE}
        threads = [
            row
            for row in self._threads.rows.values()
            if row.item.created_at < before and row.item.id not in touched
        ]
        held = {file_id for _, file_id in self._vs_files}
        files = [
            row
            for row in self._files.rows.values()
            if row.item.created_at < before and row.item.id not in held
        ]
        return Purgeable(_oldest(threads, limit), _oldest(files, limit))

    async def not_ready(self) -> str | None:
        return None


class _ThreadOwned(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def thread_id(self) -> str: ...


OwnedT = TypeVar("OwnedT", bound=_ThreadOwned)


def _drop_thread(table: Table[OwnedT], thread_id: str) -> None:
    for object_id in [k for k, r in table.rows.items() if r.item.thread_id == thread_id]:
        del table.rows[object_id]


class _Closable(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...


ClosableT = TypeVar("ClosableT", bound=_Closable)


def _close_open(
    table: Table[ClosableT],
    belongs: Callable[[ClosableT], bool],
    close: Callable[[ClosableT], ClosableT],
) -> list[ClosableT]:
    closed = []
    for row in table.rows.values():
        if belongs(row.item) and row.item.status == "in_progress":
            row.item = close(row.item)
            closed.append(row.item)
    return closed


def _oldest(rows: Sequence[Row[Any]], limit: int) -> list[str]:
    return [row.item.id for row in sorted(rows, key=lambda row: row.seq)[:limit]]
