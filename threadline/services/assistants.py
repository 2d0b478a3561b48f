"""Assistants: create, read, modify, delete, list."""

from __future__ import annotations

from threadline.errors import NotFoundError
from threadline.ids import new_id, now
from threadline.protocol.assistants import (
    Assistant,
    CreateAssistantRequest,
    ModifyAssistantRequest,
)
from threadline.protocol.common import DeletedObject, ListPage, ListQuery
from threadline.routing import ModelCatalog, OpenCatalog
from threadline.services.attached_files import AttachedFiles
from threadline.services.resources import list_page
from threadline.store.base import Store

__all__ = ["AssistantService"]


class AssistantService:
    def __init__(
        self, store: Store, attached: AttachedFiles, models: ModelCatalog | None = None
    ) -> None:
        self.store = store
        self.attached = attached
        self.models = models if models is not None else OpenCatalog()

    async def create(self, request: CreateAssistantRequest) -> Assistant:
        self.models.check(request.model)
        resources = await self.attached.tool_resources(request.tool_resources)
        assistant = Assistant(
            id=new_id("asst"),
            created_at=now(),
            name=request.name,
            description=request.description,
            model=request.model,
            instructions=request.instructions,
            tools=request.tools,
            tool_resources=resources,
            metadata=request.metadata if request.metadata is not None else {},
            temperature=request.temperature if request.temperature is not None else 1.0,
            top_p=request.top_p if request.top_p is not None else 1.0,
            response_format=request.response_format or "auto",
        )
        await self.store.insert_assistant(assistant)
        return assistant

    async def get(self, assistant_id: str) -> Assistant:
        assistant = await self.store.get_assistant(assistant_id)
        if assistant is None:
            raise NotFoundError.for_object("assistant", assistant_id)
        return assistant

    async def modify(self, assistant_id: str, request: ModifyAssistantRequest) -> Assistant:
        current = await self.get(assistant_id)
        given = request.model_fields_set
        changes: dict[str, object] = {
            name: getattr(request, name)
            for name in ("name", "description", "instructions", "tools", "response_format")
            if name in given
        }
        if "model" in given and request.model is not None:
            self.models.check(request.model)
            changes["model"] = request.model
        if "tool_resources" in given:
            changes["tool_resources"] = await self.attached.tool_resources(request.tool_resources)
        if "metadata" in given:
            changes["metadata"] = request.metadata if request.metadata is not None else {}
        for name in ("temperature", "top_p"):
            if name in given:
                value = getattr(request, name)
                changes[name] = value if value is not None else 1.0
        if "response_format" in given and request.response_format is None:
            changes["response_format"] = "auto"
        updated = current.model_copy(update=changes)
        if not await self.store.replace_assistant(updated):
            raise NotFoundError.for_object("assistant", assistant_id)
        return updated

    async def delete(self, assistant_id: str) -> DeletedObject:
        if not await self.store.delete_assistant(assistant_id):
            raise NotFoundError.for_object("assistant", assistant_id)
        return DeletedObject(id=assistant_id, object="assistant.deleted")

    async def list(self, query: ListQuery) -> ListPage[Assistant]:
        return list_page(await self.store.list_assistants(query))
