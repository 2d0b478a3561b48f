"""List pages by `seq`: OpenAI's cursor pagination (`limit`, `order`, `after`, `before`)
over one table, within a scope of column values.

A page's statement depends only on its shape (the table, which columns scope it, the order,
which cursors are given), so each shape is built once with its values as bind parameters
and executed through `sql_exec` (on SQLite, on the driver's cursor). Building and compiling
a SELECT per request cost ~0.4 ms of CPU, more than the rest of a list request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, Table, bindparam, or_, select
from sqlalchemy.engine import Connection

from threadline.protocol.common import ListQuery
from threadline.store import sql_exec
from threadline.store.base import cursor_not_found

__all__ = ["EVERYTHING", "Scope", "backwards", "page_rows", "storable"]


@dataclass(frozen=True)
class Scope:
    """The rows a list covers: those whose columns hold `equal`'s values (and, with
    `unexpired_at`, whose `expires_at` is unset or later). Its cursors (`after`, `before`)
    must name a row whose `cursor_columns` (a part of `equal`) hold the same values."""

    equal: Mapping[str, str] = field(default_factory=dict)
    cursor_columns: tuple[str, ...] = ()
    unexpired_at: int | None = None

    def __post_init__(self) -> None:
        assert set(self.cursor_columns) <= set(self.equal), "a cursor column is not in scope"


EVERYTHING = Scope()


def page_rows(conn: Connection, table: Table, scope: Scope, query: ListQuery) -> Sequence[str]:
    """The `data` of up to `limit + 1` rows past `after` and ahead of `before`; a page with
    only `before` is read backwards from the cursor (`backwards`: the caller turns it
    round). An unknown cursor raises `cursor_not_found`."""
    if storable(*scope.equal.values(), query.after, query.before):
        statement = _page_statement(
            table,
            tuple(sorted(scope.equal)),
            scope.cursor_columns,
            scope.unexpired_at is not None,
            query.order == "desc",
            query.after is not None,
            query.before is not None,
        )
        params: dict[str, Any] = {_name(c): v for c, v in scope.equal.items()}
        params["limit"] = query.limit + 1
        if query.after is not None:
            params["after"] = query.after
        if query.before is not None:
            params["before"] = query.before
        if scope.unexpired_at is not None:
            params["now"] = scope.unexpired_at
        found: list[str] = sql_exec.scalars(conn, statement, params)
        if found:
            return found
    _check_cursors(conn, table, scope, query)  # nothing selected: say which cursor is unknown
    return []


def backwards(query: ListQuery) -> bool:
    return query.before is not None and query.after is None


def _check_cursors(conn: Connection, table: Table, scope: Scope, query: ListQuery) -> None:
    for param, object_id in (("after", query.after), ("before", query.before)):
        if object_id is None:
            continue
        in_scope = {c: scope.equal[c] for c in scope.cursor_columns}
        known = storable(object_id, *in_scope.values()) and sql_exec.first(
            conn,
            _cursor_statement(table, scope.cursor_columns),
            {"cursor": object_id} | {_name(c): v for c, v in in_scope.items()},
        )
        if not known:
            raise cursor_not_found(param, object_id)


def storable(*values: str | None) -> bool:
    # PostgreSQL text cannot hold NUL, so no stored value contains one: such a lookup must
    # find nothing rather than fail in the driver.
    return not any(v is not None and "\x00" in v for v in values)


def _name(column: str) -> str:
    return f"scope_{column}"


def _in_scope(table: Table, columns: Sequence[str]) -> list[ColumnElement[bool]]:
    return [table.c[c] == bindparam(_name(c), type_=table.c[c].type) for c in columns]


# Statements by shape: a few dozen at most (tables x scopes x orders x cursors), each kept
# for good, since `sql_exec` remembers a statement by identity.
_PAGES: dict[tuple[Any, ...], Select[Any]] = {}
_CURSORS: dict[tuple[Any, ...], Select[Any]] = {}


def _cursor_seq(table: Table, columns: Sequence[str], name: str) -> Select[Any]:
    condition = table.c.id == bindparam(name, type_=table.c.id.type)
    return select(table.c.seq).where(condition, *_in_scope(table, columns)).correlate(None)


def _cursor_statement(table: Table, columns: tuple[str, ...]) -> Select[Any]:
    key = (table.name, columns)
    found = _CURSORS.get(key)
    if found is None:
        found = _CURSORS[key] = _cursor_seq(table, columns, "cursor")
    return found


def _page_statement(
    table: Table,
    columns: tuple[str, ...],
    cursor_columns: tuple[str, ...],
    unexpired: bool,
    desc: bool,
    after: bool,
    before: bool,
) -> Select[Any]:
    key = (table.name, columns, cursor_columns, unexpired, desc, after, before)
    found = _PAGES.get(key)
    if found is not None:
        return found
    seq = table.c.seq
    conditions = _in_scope(table, columns)
    if unexpired:
        expires = table.c.expires_at
        conditions.append(or_(expires.is_(None), expires > bindparam("now", type_=BigInteger)))
    if after:
        cursor = _cursor_seq(table, cursor_columns, "after").scalar_subquery()
        conditions.append(seq < cursor if desc else seq > cursor)
    if before:
        cursor = _cursor_seq(table, cursor_columns, "before").scalar_subquery()
        conditions.append(seq > cursor if desc else seq < cursor)
    ascending = desc == (before and not after)
    statement = (
        select(table.c.data)
        .where(*conditions)
        .order_by(seq.asc() if ascending else seq.desc())
        .limit(bindparam("limit", type_=Integer))
    )
    _PAGES[key] = statement
    return statement
