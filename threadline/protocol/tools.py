"""Tools, tool resources and response formats, shared by assistants, threads and runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from threadline.protocol.common import Metadata, Omittable, RequestModel

__all__ = [
    "AssistantTool",
    "CodeInterpreterTool",
    "FileSearchTool",
    "FunctionDefinition",
    "FunctionTool",
    "ResponseFormat",
    "ToolResources",
    "ToolResourcesRequest",
]

# Nested wire shapes double as request shapes: strict, unknown fields refused.


class FunctionDefinition(RequestModel):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: Omittable[str] = None
    parameters: Omittable[dict[str, Any]] = None
    strict: Omittable[bool] = None


class FunctionTool(RequestModel):
    type: Literal["function"]
    function: FunctionDefinition


class CodeInterpreterTool(RequestModel):
    type: Literal["code_interpreter"]


class RankingOptions(RequestModel):
    ranker: Omittable[Literal["auto", "default_2024_08_21"]] = None
    score_threshold: float = Field(ge=0, le=1)


class FileSearchSettings(RequestModel):
    max_num_results: Omittable[int] = Field(default=None, ge=1, le=50)
    ranking_options: Omittable[RankingOptions] = None


class FileSearchTool(RequestModel):
    type: Literal["file_search"]
    file_search: Omittable[FileSearchSettings] = None


AssistantTool = Annotated[
    CodeInterpreterTool | FileSearchTool | FunctionTool, Field(discriminator="type")
]


class FileSearchTypeOnly(RequestModel):
    type: Literal["file_search"]


AttachmentTool = Annotated[CodeInterpreterTool | FileSearchTypeOnly, Field(discriminator="type")]


class CodeInterpreterResources(RequestModel):
    file_ids: list[str] = Field(default_factory=list, max_length=20)


class FileSearchResources(RequestModel):
    vector_store_ids: list[str] = Field(default_factory=list, max_length=1)


class ToolResources(RequestModel):
    """Tool resources as stored on assistants and threads."""

    code_interpreter: Omittable[CodeInterpreterResources] = None
    file_search: Omittable[FileSearchResources] = None


class AutoChunking(RequestModel):
    type: Literal["auto"]


class StaticChunkingSettings(RequestModel):
    max_chunk_size_tokens: int = Field(ge=100, le=4096)
    chunk_overlap_tokens: int = Field(ge=0)


class StaticChunking(RequestModel):
    type: Literal["static"]
    static: StaticChunkingSettings


ChunkingStrategy = Annotated[AutoChunking | StaticChunking, Field(discriminator="type")]


class VectorStoreHelper(RequestModel):
    file_ids: list[str] = Field(default_factory=list)
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None


class FileSearchResourcesRequest(RequestModel):
    vector_store_ids: list[str] | None = Field(default=None, max_length=1)
    vector_stores: list[VectorStoreHelper] | None = Field(default=None, max_length=1)


class ToolResourcesRequest(RequestModel):
    """Tool resources as a create request may give them (with the vector store helper)."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResourcesRequest | None = None


class TextFormat(RequestModel):
    type: Literal["text"]


class JsonObjectFormat(RequestModel):
    type: Literal["json_object"]


class JsonSchemaSpec(RequestModel):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: Omittable[str] = None
    schema_: Omittable[dict[str, Any]] = Field(default=None, alias="schema")
    strict: Omittable[bool] = None


class JsonSchemaFormat(RequestModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = (
    Literal["auto"]
    | Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]
)
