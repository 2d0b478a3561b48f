"""Pieces of the in-memory store: tables of rows in insertion order, and pagination."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from threadline.protocol.common import ListQuery
from threadline.store.base import Page, cursor_not_found

__all__ = ["Row", "Table", "paginate"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T")
IdT = TypeVar("IdT", bound=_HasId)


@dataclass
class Row(Generic[IdT]):
    seq: int
    item: IdT


@dataclass
class Table(Generic[IdT]):
    """Rows by id, each with the insertion sequence number that orders lists."""

    rows: dict[str, Row[IdT]] = field(default_factory=dict)

    def get(self, object_id: str) -> IdT | None:
        row = self.rows.get(object_id)
        return row.item if row else None

    def add(self, seq: int, item: IdT) -> None:
        self.rows[item.id] = Row(seq, item)

    def page(
        self,
        query: ListQuery,
        keep: Callable[[IdT], bool],
        cursor_in: Callable[[IdT], bool] | None = None,
    ) -> Page[IdT]:
        """The rows `keep` selects as one page of a list; a cursor must name a row that
        `cursor_in` (default: `keep`) accepts."""
        rows = [(r.seq, r.item) for r in self.rows.values() if keep(r.item)]
        in_list = cursor_in or keep

        def cursor_seq(object_id: str) -> int | None:
            row = self.rows.get(object_id)
            return row.seq if row is not None and in_list(row.item) else None

        return paginate(rows, query, cursor_seq)

    def replace(self, item: IdT) -> bool:
        row = self.rows.get(item.id)
        if row is None:
            return False
        row.item = item
        return True


def paginate(
    rows: Sequence[tuple[int, T]], query: ListQuery, cursor_seq: Callable[[str], int | None]
) -> Page[T]:
    """OpenAI's cursor rules over `(seq, item)` pairs sorted by ascending sequence number;
    `cursor_seq` gives a cursor id's sequence number (None: not in this list)."""
    after = _resolve(query.after, "after", cursor_seq)
    before = _resolve(query.before, "before", cursor_seq)
    desc = query.order == "desc"
    ordered = list(reversed(rows)) if desc else list(rows)

    def past(seq: int, cursor: int) -> bool:  # True if seq comes after cursor in this order
        return seq < cursor if desc else seq > cursor

    selected = [
        item
        for seq, item in ordered
        if (after is None or past(seq, after)) and (before is None or past(before, seq))
    ]
    if before is not None and after is None:
        # A `before` page is the stretch just ahead of the cursor.
        return Page(selected[-query.limit :], len(selected) > query.limit)
    return Page(selected[: query.limit], len(selected) > query.limit)


def _resolve(
    object_id: str | None, param: str, cursor_seq: Callable[[str], int | None]
) -> int | None:
    if object_id is None:
        return None
    seq = cursor_seq(object_id)
    if seq is None:
        raise cursor_not_found(param, object_id)
    return seq
