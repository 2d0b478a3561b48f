"""The in-memory store: the public fake for tests, held to the same contract as SQL."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from threadline.protocol.assistants import Assistant
from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message
from threadline.protocol.threads import Thread
from threadline.store.base import Page, cursor_not_found

__all__ = ["MemoryStore", "paginate"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


@dataclass
class _Row(Generic[T]):
    seq: int
    item: T


@dataclass
class _Table(Generic[T]):
    """Rows by id, each with the insertion sequence number that orders lists."""

    rows: dict[str, _Row[T]] = field(default_factory=dict)

    def get(self, object_id: str) -> T | None:
        row = self.rows.get(object_id)
        return row.item if row else None

    def replace(self, item: T) -> bool:
        row = self.rows.get(item.id)
        if row is None:
            return False
        row.item = item
        return True


def paginate(
    rows: Sequence[_Row[T]], query: ListQuery, cursor_seq: Callable[[str], int | None]
) -> Page[T]:
    """Apply OpenAI's cursor rules to rows sorted by ascending sequence number."""
    after = _resolve(query.after, "after", cursor_seq)
    before = _resolve(query.before, "before", cursor_seq)
    desc = query.order == "desc"
    ordered = list(reversed(rows)) if desc else list(rows)

    def past(seq: int, cursor: int) -> bool:  # True if seq comes after cursor in this order
        return seq < cursor if desc else seq > cursor

    selected = [
        r
        for r in ordered
        if (after is None or past(r.seq, after)) and (before is None or past(before, r.seq))
    ]
    if before is not None and after is None:
        # A `before` page is the stretch just ahead of the cursor.
        window = selected[-query.limit :]
        return Page([r.item for r in window], len(selected) > query.limit)
    return Page([r.item for r in selected[: query.limit]], len(selected) > query.limit)


def _resolve(
    object_id: str | None, param: str, cursor_seq: Callable[[str], int | None]
) -> int | None:
    if object_id is None:
        return None
    seq = cursor_seq(object_id)
    if seq is None:
        raise cursor_not_found(param, object_id)
    return seq


class MemoryStore:
    """Everything in dicts; each method is atomic because nothing in it awaits."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self._assistants: _Table[Assistant] = _Table()
        self._threads: _Table[Thread] = _Table()
        self._messages: _Table[Message] = _Table()

    async def close(self) -> None:
        return None

    def _add(self, table: _Table[T], item: T) -> None:
        table.rows[item.id] = _Row(next(self._seq), item)

    @staticmethod
    def _seq_of(table: _Table[T], keep: Callable[[T], bool]) -> Callable[[str], int | None]:
        def lookup(object_id: str) -> int | None:
            row = table.rows.get(object_id)
            return row.seq if row is not None and keep(row.item) else None

        return lookup

    # Assistants
    async def insert_assistant(self, assistant: Assistant) -> None:
        self._add(self._assistants, assistant)

    async def get_assistant(self, assistant_id: str) -> Assistant | None:
        return self._assistants.get(assistant_id)

    async def replace_assistant(self, assistant: Assistant) -> bool:
        return self._assistants.replace(assistant)

    async def delete_assistant(self, assistant_id: str) -> bool:
        return self._assistants.rows.pop(assistant_id, None) is not None

    async def list_assistants(self, query: ListQuery) -> Page[Assistant]:
        rows = list(self._assistants.rows.values())
        return paginate(rows, query, self._seq_of(self._assistants, lambda _: True))

    # Threads
    async def insert_thread(self, thread: Thread, messages: Sequence[Message] = ()) -> None:
        self._add(self._threads, thread)
        for message in messages:
            self._add(self._messages, message)

    async def get_thread(self, thread_id: str) -> Thread | None:
        return self._threads.get(thread_id)

    async def replace_thread(self, thread: Thread) -> bool:
        return self._threads.replace(thread)

    async def delete_thread(self, thread_id: str) -> bool:
        if self._threads.rows.pop(thread_id, None) is None:
            return False
        rows = self._messages.rows
        for message_id in [k for k, r in rows.items() if r.item.thread_id == thread_id]:
            del rows[message_id]
        return True

    # Messages
    async def insert_message(self, message: Message) -> bool:
        if message.thread_id not in self._threads.rows:
            return False
        self._add(self._messages, message)
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

        rows = [r for r in self._messages.rows.values() if keep(r.item)]
        in_thread = self._seq_of(self._messages, lambda m: m.thread_id == thread_id)
        return paginate(rows, query, in_thread)
