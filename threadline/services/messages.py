"""Messages: built from requests, stored in threads, listed, modified, deleted."""

from __future__ import annotations

from threadline.errors import InvalidRequestError, NotFoundError
from threadline.ids import new_id, now
from threadline.protocol.common import DeletedObject, ListPage, ListQuery
from threadline.protocol.messages import (
    CreateMessageRequest,
    Message,
    MessageContent,
    ModifyMessageRequest,
    Text,
    TextContent,
)
from threadline.services.attached_files import AttachedFiles
from threadline.services.resources import list_page
from threadline.store.base import Store, ThreadBusyError

__all__ = ["MessageListQuery", "MessageService", "build_message"]


class MessageListQuery(ListQuery):
    run_id: str | None = None


def _content(request: CreateMessageRequest) -> list[MessageContent]:
    if isinstance(request.content, str):
        return [TextContent(text=Text(value=request.content))]
    parts: list[MessageContent] = []
    for part in request.content:
        if part.type == "text":
            parts.append(TextContent(text=Text(value=part.text)))
        else:
            parts.append(part)
    return parts


def build_message(thread_id: str, request: CreateMessageRequest, created_at: int) -> Message:
    """A completed message as the create-message and create-thread endpoints store it."""
    return Message(
        id=new_id("msg"),
        created_at=created_at,
        thread_id=thread_id,
        status="completed",
        role=request.role,
        content=_content(request),
        attachments=request.attachments or [],
        metadata=request.metadata if request.metadata is not None else {},
    )


class MessageService:
    def __init__(self, store: Store, attached: AttachedFiles) -> None:
        self.store = store
        self.attached = attached

    async def create(self, thread_id: str, request: CreateMessageRequest) -> Message:
        await self.attached.check([request])
        message = build_message(thread_id, request, now())
        try:
            inserted = await self.store.insert_message(message)
        except ThreadBusyError as busy:
            raise InvalidRequestError(
                f"Can't add messages to {thread_id} while a run {busy.run_id} is active."
            ) from None
        if not inserted:
            raise NotFoundError.for_object("thread", thread_id)
        await self.attached.into_thread(thread_id, [request])
        return message

    async def get(self, thread_id: str, message_id: str) -> Message:
        message = await self.store.get_message(thread_id, message_id)
        if message is None:
            if await self.store.get_thread(thread_id) is None:
                raise NotFoundError.for_object("thread", thread_id)
            raise NotFoundError.for_object("message", message_id)
        return message

    async def modify(
        self, thread_id: str, message_id: str, request: ModifyMessageRequest
    ) -> Message:
        message = await self.get(thread_id, message_id)
        if "metadata" in request.model_fields_set:
            metadata = request.metadata if request.metadata is not None else {}
            message = message.model_copy(update={"metadata": metadata})
            if not await self.store.replace_message(message):
                raise NotFoundError.for_object("message", message_id)
        return message

    async def delete(self, thread_id: str, message_id: str) -> DeletedObject:
        await self.get(thread_id, message_id)
        if not await self.store.delete_message(thread_id, message_id):
            raise NotFoundError.for_object("message", message_id)
        return DeletedObject(id=message_id, object="thread.message.deleted")

    async def list(self, thread_id: str, query: MessageListQuery) -> ListPage[Message]:
        if await self.store.get_thread(thread_id) is None:
            raise NotFoundError.for_object("thread", thread_id)
        page = await self.store.list_messages(thread_id, query, run_id=query.run_id)
        return list_page(page)
