"""The SQL store's operations queries: runs across threads, counts by status, what
retention may purge, and whether the schema is at the newest migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, exists, func, or_, select
from sqlalchemy.engine import Connection

from threadline.protocol.runs import Run
from threadline.store import schema
from threadline.store.base import Purgeable
from threadline.store.sql_base import SQLBase, storable

__all__ = ["SQLAdmin", "head_revision"]

MIGRATIONS = Path(__file__).parent / "migrations"


def head_revision() -> str | None:
    """The newest migration this code ships."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _stale_threads(before: Any, limit: Any) -> Any:
    t, m, r = schema.threads.c, schema.messages.c, schema.runs.c
    newer_message = exists().where(m.thread_id == t.id, m.created_at >= before)
    live_run = exists().where(
        r.thread_id == t.id,
        or_(r.created_at >= before, schema.status_in(r.status, schema.ACTIVE_STATUSES)),
    )
    return (
        select(t.id)
        .where(t.created_at < before, ~newer_message, ~live_run)
        .order_by(t.seq)
        .limit(limit)
    )


def _stale_files(before: Any, limit: Any) -> Any:
    f, v = schema.files.c, schema.vector_store_files.c
    held = exists().where(v.id == f.id)
    return select(f.id).where(f.created_at < before, ~held).order_by(f.seq).limit(limit)


class SQLAdmin(SQLBase):
    """Mixed into `SQLStore`."""

    _head: str | None = None

    async def find_run(self, run_id: str) -> Run | None:
        if not storable(run_id):
            return None
        statement = select(schema.runs.c.data).where(schema.runs.c.id == run_id)
        data = await self._db.read(lambda conn: conn.execute(statement).scalar_one_or_none())
        return None if data is None else Run.model_validate_json(data)

    async def recent_runs(self, status: str | None, limit: int) -> list[Run]:
        r = schema.runs.c
        statement = select(r.data).order_by(r.seq.desc()).limit(limit)
        if status is not None:
            statement = statement.where(r.status == status)
        rows = await self._db.read(lambda conn: conn.execute(statement).scalars().all())
        return [Run.model_validate_json(data) for data in rows]

    async def count_active_runs(self) -> dict[str, int]:
        r = schema.runs.c
        active = schema.status_in(r.status, schema.ACTIVE_STATUSES)  # the partial index's
        statement = select(r.status, func.count()).where(active).group_by(r.status)
        rows = await self._db.read(lambda conn: conn.execute(statement).all())
        return {str(status): int(count) for status, count in rows}

    async def purgeable(self, before: int, limit: int) -> Purgeable:
        params = {"p_before": before, "p_limit": limit}
        cutoff: Any = bindparam("p_before")
        most: Any = bindparam("p_limit")

        def work(conn: Connection) -> Purgeable:
            threads = conn.execute(_stale_threads(cutoff, most), params).scalars().all()
            files = conn.execute(_stale_files(cutoff, most), params).scalars().all()
            return Purgeable(list(threads), list(files))

        return await self._db.read(work)

    async def not_ready(self) -> str | None:
        if self._head is None:
            self._head = head_revision()
        try:
            current = await self._db.read(_current_revision)
        except Exception as error:  # any driver error means the same: not reachable
            return f"the database is not reachable: {type(error).__name__}: {error}"
        if current != self._head:
            return f"the database schema is at {current}, this version needs {self._head}"
        return None
