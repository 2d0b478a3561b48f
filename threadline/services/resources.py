"""Rules shared by resources: tool resources from a request, list pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from threadline.errors import InvalidRequestError
from threadline.protocol.common import ListPage
from threadline.protocol.tools import FileSearchResources, ToolResources, ToolResourcesRequest
from threadline.store.base import Page

__all__ = ["list_page", "tool_resources_from"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def tool_resources_from(request: ToolResourcesRequest | None) -> ToolResources:
    """Stored tool resources from a create request's (`{}` when none were given)."""
    if request is None:
        return ToolResources()
    file_search = None
    if request.file_search is not None:
        ids = request.file_search.vector_store_ids
        helpers = request.file_search.vector_stores
        if ids is not None and helpers is not None:
            raise InvalidRequestError(
                "Only one of 'vector_store_ids' and 'vector_stores' may be given.",
                param="tool_resources.file_search",
            )
        if helpers:
            raise InvalidRequestError(
                "Creating vector stores through 'tool_resources.file_search.vector_stores' "
                "is not supported yet; create the vector store first and pass its id in "
                "'vector_store_ids'.",
                param="tool_resources.file_search.vector_stores",
            )
        file_search = FileSearchResources(vector_store_ids=ids or [])
    return ToolResources(code_interpreter=request.code_interpreter, file_search=file_search)


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
