"""Thread wire models."""

from __future__ import annotations

from typing import Literal

from threadline.protocol.common import Metadata, RequestModel, WireModel
from threadline.protocol.messages import CreateMessageRequest
from threadline.protocol.tools import ToolResources, ToolResourcesRequest

__all__ = ["CreateThreadRequest", "ModifyThreadRequest", "Thread"]


class Thread(WireModel):
    id: str
    object: Literal["thread"] = "thread"
    created_at: int
    tool_resources: ToolResources | None
    metadata: dict[str, str] | None


class CreateThreadRequest(RequestModel):
    messages: list[CreateMessageRequest] | None = None
    tool_resources: ToolResourcesRequest | None = None
    metadata: Metadata = None


class ModifyThreadRequest(RequestModel):
    tool_resources: ToolResources | None = None
    metadata: Metadata = None
