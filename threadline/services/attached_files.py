"""Files that reach vector stores through assistants, threads and messages: the
`tool_resources.file_search.vector_stores` helper creates a vector store with its files,
and a message attachment meant for `file_search` puts its file into the thread's vector
store, creating one (that expires 7 days after its last use) when the thread has none."""

from __future__ import annotations

from collections.abc import Sequence

from threadline.errors import InvalidRequestError, NotFoundError
from threadline.ids import new_id, now
from threadline.protocol.messages import CreateMessageRequest
from threadline.protocol.threads import CreateThreadRequest, Thread
from threadline.protocol.tools import (
    FileSearchResources,
    FileSearchResourcesRequest,
    ToolResources,
    ToolResourcesRequest,
    VectorStoreHelper,
)
from threadline.protocol.vector_stores import (
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    VectorStoreExpiresAfter,
)
from threadline.services.vector_stores import VectorStoreService
from threadline.store.base import Store

__all__ = ["AttachedFiles", "file_search_file_ids"]

THREAD_STORE_DAYS = 7


def file_search_file_ids(messages: Sequence[CreateMessageRequest]) -> list[str]:
    """The ids of the files attached for `file_search`, each once, in order."""
    ids: dict[str, None] = {}
    for message in messages:
        for attachment in message.attachments or []:
            if any(tool.type == "file_search" for tool in attachment.tools):
                ids[attachment.file_id] = None
    return list(ids)


def _helper_request(helper: VectorStoreHelper, *, for_thread: bool) -> CreateVectorStoreRequest:
    strategy = helper.chunking_strategy
    return CreateVectorStoreRequest(
        file_ids=helper.file_ids,
        chunking_strategy=strategy.model_dump(exclude_none=True) if strategy else None,
        metadata=helper.metadata,
        expires_after=_thread_expiry() if for_thread else None,
    )


def _thread_expiry() -> VectorStoreExpiresAfter:
    return VectorStoreExpiresAfter(anchor="last_active_at", days=THREAD_STORE_DAYS)


def _vector_store_ids(resources: ToolResources | None) -> list[str]:
    if resources is None or resources.file_search is None:
        return []
    return resources.file_search.vector_store_ids


class AttachedFiles:
    def __init__(self, store: Store, vector_stores: VectorStoreService) -> None:
        self.store = store
        self.vector_stores = vector_stores

    async def tool_resources(
        self, request: ToolResourcesRequest | None, *, for_thread: bool = False
    ) -> ToolResources:
        """Stored tool resources from a create request's (`{}` when none were given); the
        vector store helper's stores are created here, their files ingested as usual."""
        if request is None:
            return ToolResources()
        file_search = None
        if request.file_search is not None:
            file_search = await self._file_search(request.file_search, for_thread)
        return ToolResources(code_interpreter=request.code_interpreter, file_search=file_search)

    async def _file_search(
        self, request: FileSearchResourcesRequest, for_thread: bool
    ) -> FileSearchResources:
        ids = request.vector_store_ids
        helpers = request.vector_stores
        if ids is not None and helpers is not None:
            raise InvalidRequestError(
                "Only one of 'vector_store_ids' and 'vector_stores' may be given.",
                param="tool_resources.file_search",
            )
        if helpers:
            ids = []
            for helper in helpers:
                created = await self.vector_stores.create(
                    _helper_request(helper, for_thread=for_thread)
                )
                ids.append(created.id)
        return FileSearchResources(vector_store_ids=ids or [])

    async def new_thread(
        self, request: CreateThreadRequest | None, resources: ToolResources | None = None
    ) -> Thread:
        """A thread for a create request (not stored yet), with its vector stores made and
        its messages' `file_search` files in them; `resources` replace the request's."""
        spec = request or CreateThreadRequest()
        messages = spec.messages or []
        await self.check(messages)
        thread_id = new_id("thread")
        if resources is None:
            resources = await self.tool_resources(spec.tool_resources, for_thread=True)
        return Thread(
            id=thread_id,
            created_at=now(),
            tool_resources=await self.into_resources(thread_id, resources, messages),
            metadata=spec.metadata if spec.metadata is not None else {},
        )

    async def check(self, messages: Sequence[CreateMessageRequest]) -> None:
        """404 for an attached file that does not exist, before anything is written."""
        for message in messages:
            for attachment in message.attachments or []:
                if await self.store.get_file(attachment.file_id) is None:
                    raise NotFoundError(
                        f"No file found with id '{attachment.file_id}'.", param="attachments"
                    )

    async def into_resources(
        self, thread_id: str, resources: ToolResources, messages: Sequence[CreateMessageRequest]
    ) -> ToolResources:
        """The thread's tool resources once the messages' `file_search` files are in its
        vector store (created when the thread has none, or its store is gone)."""
        file_ids = file_search_file_ids(messages)
        if not file_ids:
            return resources
        for vector_store_id in _vector_store_ids(resources)[:1]:
            if await self.store.get_vector_store(vector_store_id) is not None:
                await self._add(vector_store_id, file_ids)
                return resources
        created = await self.vector_stores.create(
            CreateVectorStoreRequest(
                name=f"Vector store for {thread_id}",
                file_ids=file_ids,
                expires_after=_thread_expiry(),
            )
        )
        file_search = FileSearchResources(vector_store_ids=[created.id])
        return resources.model_copy(update={"file_search": file_search})

    async def _add(self, vector_store_id: str, file_ids: Sequence[str]) -> None:
        for file_id in file_ids:
            if await self.store.get_vector_store_file(vector_store_id, file_id) is None:
                await self.vector_stores.add_file(
                    vector_store_id, CreateVectorStoreFileRequest(file_id=file_id)
                )

    async def into_thread(self, thread_id: str, messages: Sequence[CreateMessageRequest]) -> None:
        """Put the stored messages' `file_search` files into the thread's vector store."""
        if not file_search_file_ids(messages):
            return
        thread = await self.store.get_thread(thread_id)
        if thread is None:
            return
        current = thread.tool_resources or ToolResources()
        resources = await self.into_resources(thread_id, current, messages)
        if resources != current:
            await self.store.replace_thread(thread.model_copy(update={"tool_resources": resources}))
