"""Executing the store's statements on the driver's cursor, compiled once; through
SQLAlchemy where that would not do.

SQLAlchemy's execution machinery costs ~30 us a statement on this machine (a primary-key
read: 37 us through `Connection.execute`, 7 us on the sqlite3 cursor), several times what
SQLite itself spends on the store's statements, and a run takes a dozen of them. So a
statement is compiled once, with its constant parameters, and later executions only put
the given values in order, on the DB-API cursor of the connection SQLAlchemy holds (in
whatever transaction it has begun): sqlite3's, or on PostgreSQL the cursor of SQLAlchemy's
asyncpg adapter, which begins the transaction, keeps the prepared statements and
translates asyncpg's errors as it does under `Connection.execute`. On SQLite an expanding
`IN` gets one `?` per value, its SQL kept for each number of values; on PostgreSQL (whose
`$n` placeholders after the list would be renumbered) it goes through SQLAlchemy. So does
a statement whose values or results SQLAlchemy must convert (a type with a result
processor, a value rendered into the SQL), and any other driver.

Only for statements built once (attributes of a store): each is remembered by identity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import iterate

__all__ = ["first", "rows", "scalar", "scalars", "write"]

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Compiled:
    """A statement as the sqlite3 driver takes it: SQL with `?` and the order of the names
    that fill them, with the conversion each value needs (SQLAlchemy's bind processors,
    such as `Double`'s to float); the values SQLAlchemy put in itself (constants) are kept."""

    sql: str
    names: tuple[str, ...]
    constants: dict[str, Any]
    converters: tuple[Callable[[Any], Any] | None, ...] | None
    # The names of expanding `IN` lists (none here with a converter), and the SQL for each
    # number of values in them.
    expanding: frozenset[str] = frozenset()
    rendered: dict[tuple[int, ...], str] = field(default_factory=dict)

    def values(self, params: Params | None) -> tuple[Any, ...]:
        given = self.constants if params is None else {**self.constants, **params}
        if self.expanding:
            return tuple(_flat(self.names, self.expanding, given))
        if self.converters is None:
            return tuple(given[name] for name in self.names)
        return tuple(
            given[name] if convert is None else convert(given[name])
            for name, convert in zip(self.names, self.converters, strict=True)
        )

    def sql_for(self, params: Params | None) -> str:
        """The SQL for these values: with as many `?` in each `IN` list as it has values
        (SQLite takes an empty list)."""
        if not self.expanding:
            return self.sql
        assert params is not None
        counts = tuple(len(params[name]) for name in sorted(self.expanding))
        found = self.rendered.get(counts)
        if found is None:
            found = self.sql
            for name, count in zip(sorted(self.expanding), counts, strict=True):
                found = found.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * count))
            self.rendered[counts] = found
        return found


def _flat(names: Sequence[str], expanding: frozenset[str], given: Params) -> Iterator[Any]:
    for name in names:
        if name in expanding:
            yield from given[name]
        else:
            yield given[name]


class _Prepared:
    """A statement's compiled forms, by dialect and the names of the values given (which,
    as for SQLAlchemy, decide the columns of an INSERT); None where it goes through
    SQLAlchemy. A statement may serve stores of both dialects in one process."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.forms: dict[tuple[str, frozenset[str]], _Compiled | None] = {}
        self.lists = any(
            isinstance(element, BindParameter) and element.expanding
            for element in iterate(cast(ClauseElement, statement))
        )

    def on_driver(self, dialect: Dialect, params: Params | None) -> _Compiled | None:
        key = (dialect.name, frozenset(params or ()))
        try:
            return self.forms[key]
        except KeyError:
            known = (dialect.name, dialect.driver) in _DRIVERS
            form = _compile(self.statement, dialect, key[1]) if known else None
            self.forms[key] = form
            return form


# The drivers whose DB-API cursors take the compiled SQL with its values in order.
_DRIVERS = {("sqlite", "pysqlite"), ("postgresql", "asyncpg")}


def _compile(statement: Executable, dialect: Dialect, keys: frozenset[str]) -> _Compiled | None:
    compiled = cast(ClauseElement, statement).compile(dialect=dialect, column_keys=sorted(keys))
    assert isinstance(compiled, SQLCompiler)
    if compiled.positiontup is None:
        return None  # named parameters
    expanding = frozenset(compiled.bind_names[bind] for bind in compiled.post_compile_params)
    if expanding and dialect.name != "sqlite":
        return None  # `$n` after the list would need renumbering
    if any(not bind.expanding or bind.literal_execute for bind in compiled.post_compile_params):
        return None  # values rendered into the SQL
    if compiled.insert_prefetch or compiled.update_prefetch:
        return None  # defaults SQLAlchemy computes before it executes
    # SQLAlchemy's record of the columns a statement returns (none for plain DML).
    if any(column.type.result_processor(dialect, None) for column in compiled._result_columns):
        return None
    given = {name for name, bind in compiled.binds.items() if bind.required}
    constants = dict(compiled.construct_params(dict.fromkeys(given)))
    for name in given:
        del constants[name]
    names = tuple(compiled.positiontup)
    converters = tuple(compiled.binds[name].type.bind_processor(dialect) for name in names)
    if expanding and any(converters):
        return None
    convert = converters if any(converters) else None
    return _Compiled(compiled.string, names, constants, convert, expanding)


_PREPARED: dict[int, _Prepared] = {}


def _prepared(statement: Executable) -> _Prepared:
    found = _PREPARED.get(id(statement))
    if found is None or found.statement is not statement:
        found = _PREPARED[id(statement)] = _Prepared(statement)
    return found


def rows(conn: Connection, statement: Executable, params: Params | None = None) -> list[Any]:
    """Every row the statement returns (tuples, or SQLAlchemy's rows, which index alike)."""
    compiled = _prepared(statement).on_driver(conn.dialect, params)
    if compiled is None:
        return list(conn.execute(statement, params).all())
    sql = compiled.sql_for(params)
    found: list[Any] = _on_driver(conn, sql, compiled.values(params), fetch=True)
    return found


def first(conn: Connection, statement: Executable, params: Params | None = None) -> Any:
    found = rows(conn, statement, params)
    return found[0] if found else None


def scalar(conn: Connection, statement: Executable, params: Params | None = None) -> Any:
    row = first(conn, statement, params)
    return None if row is None else row[0]


def scalars(conn: Connection, statement: Executable, params: Params | None = None) -> list[Any]:
    return [row[0] for row in rows(conn, statement, params)]


def write(
    conn: Connection, statement: Executable, params: Params | Sequence[Params] | None = None
) -> int:
    """Execute a statement that returns nothing (for each of a sequence of parameter
    sets); how many rows it changed."""
    prepared = _prepared(statement)
    if params is None or isinstance(params, Mapping):
        compiled = prepared.on_driver(conn.dialect, params)
        if compiled is None:
            changed: int = conn.execute(statement, params).rowcount
            return changed
        count: int = _on_driver(conn, compiled.sql_for(params), compiled.values(params))
        return count
    if prepared.lists:
        # A list's length may differ from one set to the next (and SQLAlchemy refuses
        # lists in an executemany).
        return sum(write(conn, statement, p) for p in params)
    compiled = prepared.on_driver(conn.dialect, params[0])
    if compiled is None:
        changed = conn.execute(statement, params).rowcount
        return changed
    many = [compiled.values(p) for p in params]
    count = _on_driver(conn, compiled.sql, many, many=True)
    return count


def _on_driver(
    conn: Connection, sql: str, values: Any, *, many: bool = False, fetch: bool = False
) -> Any:
    """Execute on the DB-API connection under SQLAlchemy's (in whatever transaction that
    has begun): the rows when `fetch`, else how many rows changed (-1 for many on
    PostgreSQL, as through SQLAlchemy). Whatever is raised goes through SQLAlchemy's own
    handler, as under `Connection.execute`: the driver's errors as SQLAlchemy raises them
    (`IntegrityError` ..., which is what the store catches), others as they are; a
    connection lost on the way, or left mid-statement by a cancel, is invalidated (with
    the pool's others when lost), so that it is not handed out again."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        if many:
            cursor.executemany(sql, values)
        else:
            cursor.execute(sql, values)
        return cursor.fetchall() if fetch else cursor.rowcount
    except BaseException as err:  # as SQLAlchemy: a cancel mid-statement invalidates too
        conn._handle_dbapi_exception(err, sql, values, cursor, None)
    finally:
        cursor.close()
