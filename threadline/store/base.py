"""The domain-level `Store` protocol every backend implements, and what they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from threadline.errors import InvalidRequestError
from threadline.protocol.assistants import Assistant
from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message
from threadline.protocol.threads import Thread

__all__ = ["Page", "Store", "cursor_not_found"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, in the order asked for."""

    data: list[T]
    has_more: bool


def cursor_not_found(param: str, object_id: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid '{param}': no object with id '{object_id}' was found in this list.",
        param=param,
        code="invalid_value",
    )


class Store(Protocol):
    """Persistence for every resource. Objects created later sort after earlier ones,
    even within the same second. Lists raise `InvalidRequestError` for a cursor id that
    is not in the list."""

    async def close(self) -> None: ...

    # Assistants
    async def insert_assistant(self, assistant: Assistant) -> None: ...
    async def get_assistant(self, assistant_id: str) -> Assistant | None: ...
    async def replace_assistant(self, assistant: Assistant) -> bool: ...
    async def delete_assistant(self, assistant_id: str) -> bool: ...
    async def list_assistants(self, query: ListQuery) -> Page[Assistant]: ...

    # Threads: inserted together with their first messages; deleting one removes
    # everything that belongs to it.
    async def insert_thread(self, thread: Thread, messages: Sequence[Message] = ()) -> None: ...
    async def get_thread(self, thread_id: str) -> Thread | None: ...
    async def replace_thread(self, thread: Thread) -> bool: ...
    async def delete_thread(self, thread_id: str) -> bool: ...

    # Messages: insert_message returns False when the thread does not exist.
    async def insert_message(self, message: Message) -> bool: ...
    async def get_message(self, thread_id: str, message_id: str) -> Message | None: ...
    async def replace_message(self, message: Message) -> bool: ...
    async def delete_message(self, thread_id: str, message_id: str) -> bool: ...
    async def list_messages(
        self, thread_id: str, query: ListQuery, run_id: str | None = None
    ) -> Page[Message]: ...
