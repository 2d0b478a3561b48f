"""Rules shared by resources: list pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from threadline.protocol.common import ListPage
from threadline.store.base import Page

__all__ = ["list_page"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def list_page(page: Page[T]) -> ListPage[T]:
    """A store page as OpenAI's list object.

    The spec types `first_id` / `last_id` as strings, so an empty page carries "" there."""
    data: Sequence[T] = page.data
    return ListPage(
        data=list(data),
        first_id=data[0].id if data else "",
        last_id=data[-1].id if data else "",
        has_more=page.has_more,
    )
