"""Alembic environment. Threadline runs migrations itself (`threadline.store.sql.migrate`)
on a connection it passes in `config.attributes["connection"]`, so there is no alembic.ini
and no URL here."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from threadline.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations copy and swap the table.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError(
        "Threadline migrations run through threadline.store.sql.migrate(url) "
        "(or `threadline migrate`), which passes the connection in."
    )
_run(_connection)
