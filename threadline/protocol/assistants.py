"""Assistant wire models, in the spec's field order."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from threadline.protocol.common import Metadata, RequestModel, WireModel
from threadline.protocol.tools import (
    AssistantTool,
    ResponseFormat,
    ToolResources,
    ToolResourcesRequest,
)

__all__ = ["Assistant", "CreateAssistantRequest", "ModifyAssistantRequest"]

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class Assistant(WireModel):
    id: str
    object: Literal["assistant"] = "assistant"
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[AssistantTool]
    tool_resources: ToolResources | None
    metadata: dict[str, str] | None
    temperature: float | None
    top_p: float | None
    response_format: ResponseFormat | None


class _AssistantFields(RequestModel):
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    instructions: str | None = Field(default=None, max_length=256_000)
    reasoning_effort: ReasoningEffort | None = None
    tools: list[AssistantTool] = Field(default_factory=list, max_length=128)
    tool_resources: ToolResourcesRequest | None = None
    metadata: Metadata = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    response_format: ResponseFormat | None = None


class CreateAssistantRequest(_AssistantFields):
    model: str = Field(min_length=1)


class ModifyAssistantRequest(_AssistantFields):
    model: str | None = Field(default=None, min_length=1)
