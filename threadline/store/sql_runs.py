"""Runs and run steps in the SQL store: the thread lock, the queue of runs with their
executors' leases, and a thread's history.

The thread lock is the partial unique index `ix_runs_active_thread_id` (one active run
per thread). Every write that needs the thread idle (a run, or a message from outside a
run) first locks the thread row, then reads the thread's active run: PostgreSQL
serialises those writes on the row lock (`FOR NO KEY UPDATE`, which leaves foreign-key
checks free), SQLite on its single writer. So a message cannot slip in behind a run that
a concurrent transaction is creating, and the index is only a last line of defence.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from sqlalchemy import (
    CompoundSelect,
    Double,
    Select,
    Text,
    Update,
    and_,
    bindparam,
    case,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message
from threadline.protocol.runs import Run, RunStep
from threadline.protocol.threads import Thread
from threadline.store import schema
from threadline.store.base import Claim, Page, RunEnding, ThreadBusyError
from threadline.store.sql_base import (
    Database,
    SQLBase,
    Statements,
    equals,
    message_row,
    object_row,
    storable,
)

__all__ = ["SQLRunStore"]

W = TypeVar("W", Run, RunStep)
C = TypeVar("C", RunStep, Message)

_runs, _steps = schema.runs, schema.run_steps


def _lock_thread() -> Select[Any]:
    t = schema.threads.c
    return select(t.id).where(t.id == bindparam("p_thread_id")).with_for_update(key_share=True)


def _active_run(thread_id: Any) -> Select[Any]:
    r = _runs.c
    active = schema.status_in(r.status, schema.ACTIVE_STATUSES)
    return select(r.id).where(r.thread_id == thread_id, active).limit(1)


def _thread_state() -> Select[Any]:
    """The thread's id (nothing when it does not exist) and its active run's id."""
    t = schema.threads.c
    active = _active_run(t.id).scalar_subquery()
    return select(t.id, active).where(t.id == bindparam("p_thread_id"))


def _claimable(c: Any) -> list[Any]:
    """Runs needing an executor: queued or cancelling with no live lease, or in_progress
    whose lease lapsed."""
    now = bindparam("p_now", type_=Double)
    return [
        # Word for word the condition of the index on active runs, so that it serves here.
        schema.status_in(c.status, schema.ACTIVE_STATUSES),
        c.status != "requires_action",
        or_(c.lease_until <= now, and_(c.lease_owner.is_(None), c.status != "in_progress")),
    ]


def _claim(*conditions: Any) -> Update:
    r = _runs.c
    recovered = case((r.status == "in_progress", 1), else_=0)
    return (
        update(_runs)
        .where(*conditions)
        .values(
            lease_owner=bindparam("p_owner"),
            lease_until=bindparam("p_until"),
            recoveries=r.recoveries + recovered,
        )
        .returning(r.data, r.recoveries)
    )


def _claim_next() -> Update:
    # SKIP LOCKED (PostgreSQL): concurrent claimers each take a different run at once.
    candidate = _runs.alias("candidate")
    picked = (
        select(candidate.c.id)
        .where(*_claimable(candidate.c))
        .order_by(candidate.c.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return _claim(_runs.c.id == picked)


def _renew() -> Update:
    r = _runs.c
    held = [r.lease_owner == bindparam("p_owner"), r.id.in_(bindparam("p_ids", expanding=True))]
    return update(_runs).where(*held).values(lease_until=bindparam("p_until")).returning(r.id)


def _release() -> Update:
    r = _runs.c
    held = [r.id == bindparam("p_id"), r.lease_owner == bindparam("p_owner")]
    return update(_runs).where(*held).values(lease_owner=None, lease_until=0)


def _due() -> Select[Any]:
    """Active runs past their expiry, oldest first (the caller adds the limit)."""
    r = _runs.c
    active = schema.status_in(r.status, schema.ACTIVE_STATUSES)
    return select(r.data).where(active, r.expires_at <= bindparam("p_now")).order_by(r.seq)


def _history() -> CompoundSelect[Any]:
    m, s = schema.messages.c, _steps.c
    thread_id = bindparam("p_thread_id", type_=Text)
    return union_all(
        select(m.seq, literal_column("0").label("is_step"), m.data).where(m.thread_id == thread_id),
        select(s.seq, literal_column("1"), s.data).where(
            s.thread_id == thread_id, s.type == "tool_calls"
        ),
    ).order_by(literal_column("seq"))


class _Writable:
    """Statements that read a row for update (locked on PostgreSQL) and write it back."""

    def __init__(self, table: Any, **columns: Any) -> None:
        c = table.c
        self.lock = select(c.data).where(c.id == bindparam("p_id")).with_for_update(key_share=True)
        values: dict[str, Any] = {"data": bindparam("p_data")} | {
            name: bindparam(f"p_{name}") for name in columns
        }
        self.write = update(table).where(c.id == bindparam("p_id")).values(**values)


def _run_columns(run: Run) -> dict[str, Any]:
    return {"p_status": run.status, "p_expires_at": run.expires_at}


def _no_columns(_: RunStep) -> dict[str, Any]:
    return {}


class SQLRunStore(SQLBase):
    """Runs, run steps and the thread lock; see the module docstring."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        seq = database.computes_seq
        r, s = _runs.c, _steps.c
        self._lock_thread = _lock_thread()
        self._active_run = _active_run(bindparam("p_thread_id"))
        self._thread_state = _thread_state()
        self._runs = Statements(_runs, seq)
        self._get_run = self._runs.get.where(r.thread_id == bindparam("p_thread_id"))
        self._run_writes = _Writable(_runs, status=True, expires_at=True)
        self._claim_next = _claim_next()
        self._claim_one = _claim(r.id == bindparam("p_id"), *_claimable(r))
        self._renew, self._release, self._due = _renew(), _release(), _due()
        self._steps = Statements(_steps, seq)
        self._get_step = self._steps.get.where(
            s.thread_id == bindparam("p_thread_id"), s.run_id == bindparam("p_run_id")
        )
        self._step_writes = _Writable(_steps)
        self._run_steps = select(s.data).where(s.run_id == bindparam("p_run_id")).order_by(s.seq)
        self._history = _history()
        m = schema.messages.c
        self._run_messages = select(m.data).where(m.run_id == bindparam("p_run_id")).order_by(m.seq)
        self._message_write = (
            update(schema.messages)
            .where(m.id == bindparam("p_id"))
            .values(data=bindparam("p_data"))
        )
        self._statuses = select(r.id, r.status).where(r.id.in_(bindparam("p_ids", expanding=True)))

    # The thread lock
    async def _lock_idle_thread(self, conn: AsyncConnection, thread_id: str) -> bool:
        """Lock the thread for this transaction; False when it does not exist,
        ThreadBusyError when it has an active run."""
        if not storable(thread_id):
            return False
        params = {"p_thread_id": thread_id}
        if conn.dialect.name == "postgresql":
            # Lock first, then read in a statement of its own: a statement that waited for
            # the lock would still read from the snapshot it started with, and so miss the
            # run that the transaction holding the lock before it has just committed.
            await conn.execute(self._lock_thread, params)
        row = (await conn.execute(self._thread_state, params)).first()
        if row is None:
            return False
        if row[1] is not None:
            raise ThreadBusyError(thread_id, row[1])
        return True

    async def _insert_idle_message(self, message: Message) -> bool:
        async with self._db.write() as conn:
            if not await self._lock_idle_thread(conn, message.thread_id):
                return False
            await conn.execute(self._insert_message, message_row(message))
        return True

    # Runs
    async def insert_run(
        self, run: Run, messages: Sequence[Message] = (), thread: Thread | None = None
    ) -> bool:
        try:
            async with self._db.write() as conn:
                if thread is not None:
                    await conn.execute(
                        self._threads.insert, object_row(thread, thread.id, thread.created_at)
                    )
                elif not await self._lock_idle_thread(conn, run.thread_id):
                    return False
                if messages:
                    await conn.execute(self._insert_message, [message_row(m) for m in messages])
                await conn.execute(self._runs.insert, _run_row(run))
        except IntegrityError as error:
            await self._raise_if_busy(run.thread_id, error)
        return True

    async def _raise_if_busy(self, thread_id: str, error: IntegrityError) -> NoReturn:
        """Turn a violation of the thread lock into ThreadBusyError; re-raise others."""
        async with self._db.read() as conn:
            row = (await conn.execute(self._active_run, {"p_thread_id": thread_id})).first()
        if row is None:
            raise error
        raise ThreadBusyError(thread_id, row[0]) from error

    async def get_run(self, thread_id: str, run_id: str) -> Run | None:
        return await self._get(Run, self._get_run, p_id=run_id, p_thread_id=thread_id)

    async def list_runs(self, thread_id: str, query: ListQuery) -> Page[Run]:
        in_thread = [equals(_runs.c.thread_id, thread_id)]
        return await self._list(Run, _runs, query, in_thread, in_thread)

    async def update_run(self, run_id: str, change: Callable[[Run], Run]) -> Run | None:
        return await self._update(Run, self._run_writes, run_id, change, _run_columns)

    async def _update(
        self,
        model: type[W],
        statements: _Writable,
        object_id: str,
        change: Callable[[W], W],
        columns: Callable[[W], dict[str, Any]],
    ) -> W | None:
        """Read, change and write back one row in one transaction; an exception from
        `change` rolls it back and goes on unchanged."""
        if not storable(object_id):
            return None
        async with self._db.write() as conn:
            data = (await conn.execute(statements.lock, {"p_id": object_id})).scalar()
            if data is None:
                return None
            item = change(model.model_validate_json(data))
            values: dict[str, Any] = {
                "p_id": object_id,
                "p_data": item.model_dump_json(),
                **columns(item),
            }
            await conn.execute(statements.write, values)
        return item

    async def end_run(
        self,
        run_id: str,
        change: Callable[[Run], Run],
        close_step: Callable[[RunStep], RunStep],
        close_message: Callable[[Message], Message],
    ) -> RunEnding | None:
        if not storable(run_id):
            return None
        async with self._db.write() as conn:
            data = (await conn.execute(self._run_writes.lock, {"p_id": run_id})).scalar()
            if data is None:
                return None
            run = change(Run.model_validate_json(data))
            row = {"p_id": run_id, "p_data": run.model_dump_json(), **_run_columns(run)}
            await conn.execute(self._run_writes.write, row)
            steps = await self._close(conn, RunStep, self._run_steps, run_id, close_step)
            for step in steps:
                await conn.execute(self._step_writes.write, _data_row(step))
            messages = await self._close(conn, Message, self._run_messages, run_id, close_message)
            for message in messages:
                await conn.execute(self._message_write, _data_row(message))
        return RunEnding(run, steps, messages)

    @staticmethod
    async def _close(
        conn: AsyncConnection,
        model: type[C],
        statement: Select[Any],
        run_id: str,
        close: Callable[[C], C],
    ) -> list[C]:
        rows = (await conn.execute(statement, {"p_run_id": run_id})).scalars()
        items = [model.model_validate_json(data) for data in rows]
        return [close(item) for item in items if item.status == "in_progress"]

    async def claim_next_run(self, owner: str, now: float, lease_seconds: float) -> Claim | None:
        return await self._claim(self._claim_next, owner, now, lease_seconds)

    async def claim_run(
        self, run_id: str, owner: str, now: float, lease_seconds: float
    ) -> Claim | None:
        if not storable(run_id):
            return None
        return await self._claim(self._claim_one, owner, now, lease_seconds, p_id=run_id)

    async def _claim(
        self, statement: Update, owner: str, now: float, lease_seconds: float, **params: str
    ) -> Claim | None:
        lease = {"p_owner": owner, "p_now": now, "p_until": now + lease_seconds}
        async with self._db.write_one() as conn:
            row = (await conn.execute(statement, lease | params)).first()
        return None if row is None else Claim(Run.model_validate_json(row[0]), row[1])

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], now: float, lease_seconds: float
    ) -> set[str]:
        ids = [run_id for run_id in run_ids if storable(run_id)]
        if not ids:
            return set()
        params = {"p_owner": owner, "p_ids": ids, "p_until": now + lease_seconds}
        async with self._db.write_one() as conn:
            return set((await conn.execute(self._renew, params)).scalars())

    async def release_run(self, run_id: str, owner: str) -> None:
        await self._change(self._release, p_id=run_id, p_owner=owner)

    async def run_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        ids = [run_id for run_id in run_ids if storable(run_id)]
        if not ids:
            return {}
        async with self._db.read() as conn:
            rows = await conn.execute(self._statuses, {"p_ids": ids})
            return {row[0]: row[1] for row in rows}

    async def runs_to_expire(self, now: int, limit: int) -> list[Run]:
        async with self._db.read() as conn:
            rows = (await conn.execute(self._due.limit(limit), {"p_now": now})).scalars()
            return [Run.model_validate_json(data) for data in rows]

    # Run steps
    async def insert_step(self, step: RunStep) -> None:
        # A step of a run deleted meanwhile (with its thread) is gone with it.
        with contextlib.suppress(IntegrityError):
            await self._insert(self._steps.insert, _step_row(step))

    async def get_step(self, thread_id: str, run_id: str, step_id: str) -> RunStep | None:
        return await self._get(
            RunStep, self._get_step, p_id=step_id, p_thread_id=thread_id, p_run_id=run_id
        )

    async def update_step(
        self, step_id: str, change: Callable[[RunStep], RunStep]
    ) -> RunStep | None:
        return await self._update(RunStep, self._step_writes, step_id, change, _no_columns)

    async def delete_step(self, step_id: str) -> bool:
        return await self._change(self._steps.delete, p_id=step_id)

    async def list_steps(self, thread_id: str, run_id: str, query: ListQuery) -> Page[RunStep]:
        c = _steps.c
        in_run = [equals(c.thread_id, thread_id), equals(c.run_id, run_id)]
        return await self._list(RunStep, _steps, query, in_run, in_run)

    async def run_steps(self, run_id: str) -> list[RunStep]:
        if not storable(run_id):
            return []
        async with self._db.read() as conn:
            rows = (await conn.execute(self._run_steps, {"p_run_id": run_id})).scalars()
            return [RunStep.model_validate_json(data) for data in rows]

    async def thread_history(self, thread_id: str) -> list[Message | RunStep]:
        if not storable(thread_id):
            return []
        async with self._db.read() as conn:
            rows = (await conn.execute(self._history, {"p_thread_id": thread_id})).all()
        return [
            RunStep.model_validate_json(data) if is_step else Message.model_validate_json(data)
            for _, is_step, data in rows
        ]


def _data_row(item: RunStep | Message) -> dict[str, Any]:
    return {"p_id": item.id, "p_data": item.model_dump_json()}


def _run_row(run: Run) -> dict[str, Any]:
    row = object_row(run, run.id, run.created_at)
    return row | {"thread_id": run.thread_id, "status": run.status, "expires_at": run.expires_at}


def _step_row(step: RunStep) -> dict[str, Any]:
    row = object_row(step, step.id, step.created_at)
    return row | {"thread_id": step.thread_id, "run_id": step.run_id, "type": step.type}
