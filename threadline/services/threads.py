"""Threads: created with their first messages, read, modified, deleted with everything in them."""

from __future__ import annotations

from threadline.errors import NotFoundError
from threadline.protocol.common import DeletedObject
from threadline.protocol.threads import CreateThreadRequest, ModifyThreadRequest, Thread
from threadline.protocol.tools import ToolResources
from threadline.services.attached_files import AttachedFiles
from threadline.services.messages import build_message
from threadline.store.base import Store

__all__ = ["ThreadService"]


class ThreadService:
    def __init__(self, store: Store, attached: AttachedFiles) -> None:
        self.store = store
        self.attached = attached

    async def create(self, request: CreateThreadRequest) -> Thread:
        thread = await self.attached.new_thread(request)
        messages = [build_message(thread.id, m, thread.created_at) for m in request.messages or []]
        await self.store.insert_thread(thread, messages)
        return thread

    async def get(self, thread_id: str) -> Thread:
        thread = await self.store.get_thread(thread_id)
        if thread is None:
            raise NotFoundError.for_object("thread", thread_id)
        return thread

    async def modify(self, thread_id: str, request: ModifyThreadRequest) -> Thread:
        thread = await self.get(thread_id)
        changes: dict[str, object] = {}
        if "tool_resources" in request.model_fields_set:
            changes["tool_resources"] = request.tool_resources or ToolResources()
        if "metadata" in request.model_fields_set:
            changes["metadata"] = request.metadata if request.metadata is not None else {}
        if changes:
            thread = thread.model_copy(update=changes)
            if not await self.store.replace_thread(thread):
                raise NotFoundError.for_object("thread", thread_id)
        return thread

    async def delete(self, thread_id: str) -> DeletedObject:
        if not await self.store.delete_thread(thread_id):
            raise NotFoundError.for_object("thread", thread_id)
        return DeletedObject(id=thread_id, object="thread.deleted")
