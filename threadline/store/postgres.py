"""PostgreSQL: an asyncpg connection pool; each store call's work runs on one connection
through `run_sync`; migrations under an advisory lock, then the vector index (`pgvector.py`,
or the numpy scan where the server has no pgvector)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import URL, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from threadline.store.pgvector import PgVectorIndex, available
from threadline.store.vector_index import ScanIndex, VectorIndex

__all__ = ["PostgresDatabase", "asyncpg_url", "is_postgres_url"]

T = TypeVar("T")

CONNECTIONS = 40  # by default; half of them kept open while idle
# Any constant shared by every Threadline process: ASCII "thrdline".
MIGRATION_LOCK_KEY = 0x7468_7264_6C69_6E65

_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(url: str) -> bool:
    scheme = url.partition("://")[0]
    return "://" in url and scheme.partition("+")[0] in _SCHEMES


def asyncpg_url(url: str) -> URL:
    """`postgres://` and `postgresql[+driver]://` URLs, as SQLAlchemy's asyncpg URL."""
    rest = url.partition("://")[2]
    parsed = make_url("postgresql://" + rest).set(drivername="postgresql+asyncpg")
    if "sslmode" in parsed.query:  # libpq's name; asyncpg calls it `ssl`
        query = dict(parsed.query)
        query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(query=query)
    return parsed


class PostgresDatabase:
    """Reads and writes share one pool; each write is one transaction."""

    computes_seq = False
    inline_reads = False

    def __init__(self, url: str, *, vectors: bool = True, connections: int = CONNECTIONS) -> None:
        """At most `connections` open at once; `vectors=False` keeps the numpy scan even
        where pgvector is there (tests)."""
        self._use_pgvector = vectors
        self.vectors: VectorIndex = ScanIndex()
        self._engine = create_async_engine(
            asyncpg_url(url),
            pool_size=connections // 2,
            max_overflow=connections - connections // 2,
            skip_autocommit_rollback=True,
        )
        # Under READ COMMITTED a transaction adds nothing to reads: skip BEGIN and COMMIT.
        self._reader = self._engine.execution_options(isolation_level="AUTOCOMMIT")

    async def read(self, work: Callable[[Connection], T]) -> T:
        async with self._reader.connect() as conn:
            return await conn.run_sync(work)

    async def lookup(self, work: Callable[[Connection], T]) -> T:
        return await self.read(work)

    async def write(self, work: Callable[[Connection], T], *, bulk: bool = False) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def write_one(self, work: Callable[[Connection], T], *, bulk: bool = False) -> T:
        # One statement is its own transaction: autocommit spares BEGIN and COMMIT.
        return await self.read(work)

    async def run_migrations(self, upgrade: Callable[[Connection], None]) -> None:
        # Processes starting together queue here; each then sees the others' work.
        async with self._engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            await conn.run_sync(upgrade)
            if self._use_pgvector and await conn.run_sync(available):
                index = PgVectorIndex()
                await conn.run_sync(index.prepare)
                self.vectors = index

    async def close(self) -> None:
        await self._engine.dispose()
