"""PostgreSQL: a process opens at most `THREADLINE_DATABASE_CONNECTIONS` connections."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import Connection

from threadline.config import Settings
from threadline.store import open_store
from threadline.store.sql import SQLStore


async def test_a_store_opens_no_more_connections_than_it_is_given(postgres_url: str) -> None:
    store = await open_store(postgres_url, connections=2)
    assert isinstance(store, SQLStore)

    def backend(conn: Connection) -> int:
        pid: int = conn.execute(text("SELECT pg_backend_pid() FROM pg_sleep(0.05)")).scalar_one()
        return pid

    try:
        pids = await asyncio.gather(*(store._db.read(backend) for _ in range(6)))
    finally:
        await store.close()
    assert len(set(pids)) <= 2


def test_the_setting_defaults_to_forty() -> None:
    assert Settings().database_connections == 40
    assert Settings(database_connections=8).database_connections == 8
