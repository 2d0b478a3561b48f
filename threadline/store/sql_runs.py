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

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message
from threadline.protocol.runs import Run, RunStep
from threadline.protocol.threads import Thread
from threadline.store import schema, sql_exec
from threadline.store import sql_run_statements as queries
from threadline.store.base import Claim, Lease, Page, RunEnding, ThreadBusyError
from threadline.store.sql_base import (
    Database,
    SQLBase,
    Statements,
    message_row,
    object_row,
    storable,
)
from threadline.store.sql_pages import Scope

__all__ = ["SQLRunStore"]

W = TypeVar("W", Run, RunStep)
C = TypeVar("C", RunStep, Message)

_runs, _steps = schema.runs, schema.run_steps


def _run_columns(run: Run) -> dict[str, Any]:
    return {"p_status": run.status, "p_expires_at": run.expires_at}


def _held_by(lease: Lease | None) -> Callable[[Run], dict[str, Any]]:
    """The run's columns with its lease: `lease`'s, or none."""
    holder: dict[str, Any] = {"p_lease_owner": None, "p_lease_until": 0.0}
    if lease is not None:
        holder = {"p_lease_owner": lease.owner, "p_lease_until": lease.until}
    return lambda run: _run_columns(run) | holder


def _no_columns(_: RunStep) -> dict[str, Any]:
    return {}


class SQLRunStore(SQLBase):
    """Runs, run steps and the thread lock; see the module docstring."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        seq = database.computes_seq
        r, s = _runs.c, _steps.c
        self._lock_thread = queries.lock_thread()
        self._active_run = queries.active_run(bindparam("p_thread_id"))
        self._thread_state = queries.thread_state()
        self._runs = Statements(_runs, seq)
        self._get_run = self._runs.get.where(r.thread_id == bindparam("p_thread_id"))
        self._run_writes = queries.Writable(_runs, status=True, expires_at=True)
        self._held = queries.Writable(
            _runs, status=True, expires_at=True, lease_owner=True, lease_until=True
        )
        self._claim_next = queries.claim_next()
        self._claim_one = queries.claim(r.id == bindparam("p_id"), *queries.claimable(r))
        self._renew, self._release, self._due = queries.renew(), queries.release(), queries.due()
        self._steps = Statements(_steps, seq)
        self._get_step = self._steps.get.where(
            s.thread_id == bindparam("p_thread_id"), s.run_id == bindparam("p_run_id")
        )
        self._step_writes = queries.Writable(_steps)
        self._run_steps = select(s.data).where(s.run_id == bindparam("p_run_id")).order_by(s.seq)
        self._history = queries.history()
        self._history_head = queries.history(limited=True)
        self._history_rest = queries.history(after=True)
        self._history_messages = queries.history_items(schema.messages)
        self._history_steps = queries.history_items(_steps)
        # A thread's history is read back on every run of it, and reading and parsing it
        # was most of a long thread's run: its keys (id, rev) come from an index, and only
        # the items not parsed before, or written since (`rev`), are read and parsed.
        # Nothing changes the items it hands out. With the size of each item's JSON.
        self._parsed: dict[tuple[str, int], tuple[Message | RunStep, int]] = {}
        self._parsed_chars = 0
        m = schema.messages.c
        self._run_items = queries.run_items()
        self._message_write = (
            update(schema.messages)
            .where(m.id == bindparam("p_id"))
            .values(**schema.data_values(schema.messages))
        )
        self._statuses = select(r.id, r.status).where(r.id.in_(bindparam("p_ids", expanding=True)))

    # The thread lock
    def _lock_idle_thread(self, conn: Connection, thread_id: str) -> bool:
        """Lock the thread for this transaction; False when it does not exist,
        ThreadBusyError when it has an active run."""
        if not storable(thread_id):
            return False
        params = {"p_thread_id": thread_id}
        if conn.dialect.name == "postgresql":
            # Lock first, then read in a statement of its own: a statement that waited for
            # the lock would still read from the snapshot it started with, and so miss the
            # run that the transaction holding the lock before it has just committed.
            sql_exec.rows(conn, self._lock_thread, params)
        row = sql_exec.first(conn, self._thread_state, params)
        if row is None:
            return False
        if row[1] is not None:
            raise ThreadBusyError(thread_id, row[1])
        return True

    async def _insert_idle_message(self, message: Message) -> bool:
        row = message_row(message)

        def work(conn: Connection) -> bool:
            if not self._lock_idle_thread(conn, message.thread_id):
                return False
            sql_exec.write(conn, self._insert_message, row)
            return True

        inserted = await self._db.write(work)
        if inserted:
            self._inserted([(message, row)])
        return inserted

    # Runs
    async def insert_run(
        self,
        run: Run,
        messages: Sequence[Message] = (),
        thread: Thread | None = None,
        lease: Lease | None = None,
    ) -> bool:
        message_rows = [message_row(m) for m in messages]

        def work(conn: Connection) -> bool:
            if thread is not None:
                row = object_row(thread, thread.id, thread.created_at)
                sql_exec.write(conn, self._threads.insert, row)
            elif not self._lock_idle_thread(conn, run.thread_id):
                return False
            if message_rows:
                sql_exec.write(conn, self._insert_message, message_rows)
            row = _run_row(run)
            if lease is not None:
                row |= {"lease_owner": lease.owner, "lease_until": lease.until}
            sql_exec.write(conn, self._runs.insert, row)
            return True

        try:
            inserted = await self._db.write(work)
        except IntegrityError as error:
            await self._raise_if_busy(run.thread_id, error)
        if inserted:
            self._inserted(list(zip(messages, message_rows, strict=True)))
        return inserted

    async def _raise_if_busy(self, thread_id: str, error: IntegrityError) -> NoReturn:
        """Turn a violation of the thread lock into ThreadBusyError; re-raise others."""
        params = {"p_thread_id": thread_id}
        row = await self._db.read(lambda conn: sql_exec.first(conn, self._active_run, params))
        if row is None:
            raise error
        raise ThreadBusyError(thread_id, row[0]) from error

    async def get_run(self, thread_id: str, run_id: str) -> Run | None:
        return await self._get(Run, self._get_run, p_id=run_id, p_thread_id=thread_id)

    async def list_runs(self, thread_id: str, query: ListQuery) -> Page[Run]:
        scope = Scope({"thread_id": thread_id}, ("thread_id",))
        return await self._list(Run, _runs, query, scope)

    async def update_run(
        self, run_id: str, change: Callable[[Run], Run], *, release: bool = False
    ) -> Run | None:
        if not storable(run_id):
            return None
        if release:
            writes, columns = self._held, _held_by(None)
        else:
            writes, columns = self._run_writes, _run_columns
        return await self._db.write(
            lambda conn: _update(conn, Run, writes, run_id, change, columns)
        )

    async def resume_run(
        self,
        run_id: str,
        change: Callable[[Run], Run],
        step: tuple[str, Callable[[RunStep], RunStep]] | None = None,
        lease: Lease | None = None,
    ) -> Run | None:
        if not storable(run_id):
            return None

        held = _held_by(lease)

        def work(conn: Connection) -> Run | None:
            # The run first, as every write that changes a run and its steps locks them.
            run = _update(conn, Run, self._held, run_id, change, held)
            if run is not None and step is not None and storable(step[0]):
                _update(conn, RunStep, self._step_writes, step[0], step[1], _no_columns)
            return run

        return await self._db.write(work)

    async def end_run(
        self,
        run_id: str,
        change: Callable[[Run], Run],
        close_step: Callable[[RunStep], RunStep],
        close_message: Callable[[Message], Message],
        created: tuple[RunStep, Message] | None = None,
    ) -> RunEnding | None:
        if not storable(run_id):
            return None

        reply: list[tuple[Message | RunStep, dict[str, Any]]] = []  # kept once committed

        def work(conn: Connection) -> RunEnding | None:
            reply.clear()  # a write refused part way is done again
            run = _update(conn, Run, self._run_writes, run_id, change, _run_columns)
            if run is None:
                return None
            items = sql_exec.rows(conn, self._run_items, {"p_run_id": run_id})
            steps = _close(
                RunStep, [data for is_message, _, data in items if not is_message], close_step
            )
            for step in steps:
                sql_exec.write(conn, self._step_writes.write, _data_row(step))
            messages = _close(
                Message, [data for is_message, _, data in items if is_message], close_message
            )
            for message in messages:
                sql_exec.write(conn, self._message_write, _data_row(message))
            if created is not None:
                step, message = close_step(created[0]), close_message(created[1])
                row = message_row(message)
                sql_exec.write(conn, self._steps.insert, _step_row(step))
                sql_exec.write(conn, self._insert_message, row)
                reply.append((message, row))
                steps.append(step)
                messages.append(message)
            return RunEnding(run, steps, messages)

        ending = await self._db.write(work)
        self._inserted(reply)  # its step creates a message: no history item
        return ending

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
        values = {"p_owner": owner, "p_now": now, "p_until": now + lease_seconds} | params
        row = await self._db.write_one(lambda conn: sql_exec.first(conn, statement, values))
        return None if row is None else Claim(Run.model_validate_json(row[0]), row[1])

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], now: float, lease_seconds: float
    ) -> set[str]:
        ids = [run_id for run_id in run_ids if storable(run_id)]
        if not ids:
            return set()
        params = {"p_owner": owner, "p_ids": ids, "p_until": now + lease_seconds}
        return await self._db.write_one(
            lambda conn: set(sql_exec.scalars(conn, self._renew, params))
        )

    async def release_run(self, run_id: str, owner: str) -> None:
        await self._change(self._release, p_id=run_id, p_owner=owner)

    async def run_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        ids = [run_id for run_id in run_ids if storable(run_id)]
        if not ids:
            return {}
        params = {"p_ids": ids}
        rows = await self._db.read(lambda conn: sql_exec.rows(conn, self._statuses, params))
        return {row[0]: row[1] for row in rows}

    async def runs_to_expire(self, now: int, limit: int) -> list[Run]:
        statement = self._due.limit(limit)
        rows = await self._db.read(
            lambda conn: conn.execute(statement, {"p_now": now}).scalars().all()
        )
        return [Run.model_validate_json(data) for data in rows]

    # Run steps
    async def insert_step(self, step: RunStep, message: Message | None = None) -> None:
        # A step of a run deleted meanwhile (with its thread) is gone with it.
        with contextlib.suppress(IntegrityError):
            if message is None:
                await self._insert(self._steps.insert, _step_row(step))
                return

            def work(conn: Connection) -> None:
                sql_exec.write(conn, self._steps.insert, _step_row(step))
                sql_exec.write(conn, self._insert_message, message_row(message))

            await self._db.write(work)

    async def get_step(self, thread_id: str, run_id: str, step_id: str) -> RunStep | None:
        return await self._get(
            RunStep, self._get_step, p_id=step_id, p_thread_id=thread_id, p_run_id=run_id
        )

    async def update_step(
        self, step_id: str, change: Callable[[RunStep], RunStep]
    ) -> RunStep | None:
        if not storable(step_id):
            return None
        return await self._db.write(
            lambda conn: _update(conn, RunStep, self._step_writes, step_id, change, _no_columns)
        )

    async def delete_step(self, step_id: str) -> bool:
        return await self._change(self._steps.delete, p_id=step_id)

    async def list_steps(self, thread_id: str, run_id: str, query: ListQuery) -> Page[RunStep]:
        in_run = Scope({"thread_id": thread_id, "run_id": run_id}, ("thread_id", "run_id"))
        return await self._list(RunStep, _steps, query, in_run)

    async def run_steps(self, run_id: str) -> list[RunStep]:
        if not storable(run_id):
            return []
        params = {"p_run_id": run_id}
        rows = await self._db.lookup(lambda conn: sql_exec.scalars(conn, self._run_steps, params))
        return [RunStep.model_validate_json(data) for data in rows]

    async def thread_history(self, thread_id: str) -> list[Message | RunStep]:
        if not storable(thread_id):
            return []
        params: dict[str, Any] = {"p_thread_id": thread_id}
        if not self._db.inline_reads:
            keys = await self._db.read(lambda conn: sql_exec.rows(conn, self._history, params))
        else:  # the first keys at once; those of a long thread past them on a reader thread
            head = params | {"p_limit": INLINE_HISTORY}
            keys = await self._db.lookup(lambda c: sql_exec.rows(c, self._history_head, head))
            if len(keys) == INLINE_HISTORY:
                rest = params | {"p_after": keys[-1][0]}
                keys += await self._db.read(lambda c: sql_exec.rows(c, self._history_rest, rest))
        parsed = self._parsed
        found = [parsed.get((item_id, rev)) for _, _, item_id, rev in keys]
        missing = [key for key, item in zip(keys, found, strict=True) if item is None]
        if not missing:
            return [item[0] for item in found if item is not None]
        fetched = await self._history_fetched(missing)
        history: list[Message | RunStep] = []
        for (_, _, item_id, _), item in zip(keys, found, strict=True):
            if item is not None:
                history.append(item[0])
            elif item_id in fetched:  # else deleted since its key was read
                history.append(fetched[item_id])
        return history

    async def _history_fetched(self, keys: Sequence[Any]) -> dict[str, Message | RunStep]:
        """The history items `keys` name, read whole, parsed and kept."""
        messages = [key[2] for key in keys if not key[1]]
        steps = [key[2] for key in keys if key[1]]

        def work(conn: Connection) -> list[tuple[bool, Any]]:
            rows: list[tuple[bool, Any]] = []
            for is_step, statement, ids in (
                (False, self._history_messages, messages),
                (True, self._history_steps, steps),
            ):
                for start in range(0, len(ids), _FETCH_AT_ONCE):
                    chunk = {"p_ids": ids[start : start + _FETCH_AT_ONCE]}
                    rows += [(is_step, row) for row in sql_exec.rows(conn, statement, chunk)]
            return rows

        few = len(keys) <= INLINE_HISTORY
        rows = await (self._db.lookup(work) if few else self._db.read(work))
        return {row[0]: self._parse(is_step, row[0], row[1], row[2]) for is_step, row in rows}

    def _parse(self, is_step: bool, item_id: str, rev: int, data: str) -> Message | RunStep:
        kept = self._parsed.get((item_id, rev))
        if kept is not None:  # parsed meanwhile, for a history read at the same time
            return kept[0]
        item = RunStep.model_validate_json(data) if is_step else Message.model_validate_json(data)
        self._keep(item_id, rev, item, data)
        return item

    def _keep(self, item_id: str, rev: int, item: Message | RunStep, data: str) -> None:
        # Kept already; or so big it is not worth what it would push out.
        if (item_id, rev) in self._parsed or len(data) > HISTORY_CACHE_CHARS // 8:
            return
        self._parsed_chars += len(data)
        while self._parsed_chars > HISTORY_CACHE_CHARS:
            oldest = next(iter(self._parsed))
            self._parsed_chars -= self._parsed.pop(oldest)[1]
        self._parsed[(item_id, rev)] = (item, len(data))

    def _inserted(self, items: Sequence[tuple[Message | RunStep, dict[str, Any]]]) -> None:
        """History items just inserted, with their rows, once their write has committed:
        at revision 0 they are what the next history read would parse from those rows."""
        for item, row in items:
            self._keep(item.id, 0, item, row["data"])


# The most history keys (and items read whole) read at once where the database reads
# inline (`Database.lookup`): SQLite returns a thousand keys from the index in ~0.5 ms,
# about what the hop to a reader thread and back costs.
INLINE_HISTORY = 2000

# The JSON of the parsed history items kept, in characters (the oldest go first); the
# parsed items take about as much again.
HISTORY_CACHE_CHARS = 8_000_000

# History items read whole in one statement at most (bound parameters are limited).
_FETCH_AT_ONCE = 500


def _update(
    conn: Connection,
    model: type[W],
    statements: queries.Writable,
    object_id: str,
    change: Callable[[W], W],
    columns: Callable[[W], dict[str, Any]],
) -> W | None:
    """Read, change and write back one row (in the caller's transaction); an exception
    from `change` goes on unchanged, and so rolls the transaction back."""
    data = sql_exec.scalar(conn, statements.lock, {"p_id": object_id})
    if data is None:
        return None
    item = change(model.model_validate_json(data))
    values: dict[str, Any] = {"p_id": object_id, "p_data": item.model_dump_json(), **columns(item)}
    sql_exec.write(conn, statements.write, values)
    return item


def _close(model: type[C], rows: Sequence[str], close: Callable[[C], C]) -> list[C]:
    """`close` each of the items (rows of a run's steps or messages) still in progress."""
    items = [model.model_validate_json(data) for data in rows]
    return [close(item) for item in items if item.status == "in_progress"]


def _data_row(item: RunStep | Message) -> dict[str, Any]:
    return {"p_id": item.id, "p_data": item.model_dump_json()}


def _run_row(run: Run) -> dict[str, Any]:
    row = object_row(run, run.id, run.created_at)
    return row | {"thread_id": run.thread_id, "status": run.status, "expires_at": run.expires_at}


def _step_row(step: RunStep) -> dict[str, Any]:
    row = object_row(step, step.id, step.created_at)
    return row | {"thread_id": step.thread_id, "run_id": step.run_id, "type": step.type}
