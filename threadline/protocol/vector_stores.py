"""Vector store wire models (stores, their files, file batches, search), in the spec's order."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from threadline.protocol.common import ListQuery, Metadata, Omittable, RequestModel, WireModel

__all__ = [
    "Attributes",
    "ComparisonFilter",
    "CompoundFilter",
    "CreateFileBatchRequest",
    "CreateVectorStoreFileRequest",
    "CreateVectorStoreRequest",
    "FileBatch",
    "FileContent",
    "FileContentPage",
    "FileCounts",
    "FileError",
    "ModifyVectorStoreRequest",
    "RankingOptions",
    "SearchContent",
    "SearchRequest",
    "SearchResult",
    "SearchResultsPage",
    "UpdateVectorStoreFileRequest",
    "VectorStore",
    "VectorStoreExpiresAfter",
    "VectorStoreFile",
    "VectorStoreFileListQuery",
]

FileStatus = Literal["in_progress", "completed", "cancelled", "failed"]
MAX_ATTRIBUTES = 16


def _check_attributes(
    value: dict[str, str | float | bool] | None,
) -> dict[str, str | float | bool] | None:
    if value is not None and len(value) > MAX_ATTRIBUTES:
        raise PydanticCustomError(
            "object_above_max_properties",
            "Invalid 'attributes': too many properties. Expected an object with at most "
            "{limit} properties, but got an object with {count} properties instead.",
            {"limit": MAX_ATTRIBUTES, "count": len(value)},
        )
    return value


Attributes = Annotated[
    dict[str, Annotated[str, Field(max_length=512)] | float | bool] | None,
    AfterValidator(_check_attributes),
]


class FileCounts(WireModel):
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


class VectorStoreExpiresAfter(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class VectorStore(WireModel):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str = ""
    usage_bytes: int = 0
    file_counts: FileCounts = FileCounts()
    status: Literal["expired", "in_progress", "completed"] = "completed"
    expires_after: Omittable[VectorStoreExpiresAfter] = None
    expires_at: int | None = None
    last_active_at: int | None
    metadata: dict[str, str] | None


class FileError(WireModel):
    code: Literal["server_error", "unsupported_file", "invalid_file"]
    message: str


class VectorStoreFile(WireModel):
    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    usage_bytes: int = 0
    created_at: int
    vector_store_id: str
    status: FileStatus = "in_progress"
    last_error: FileError | None = None
    chunking_strategy: dict[str, Any]
    attributes: dict[str, str | float | bool] | None = None


class FileBatch(WireModel):
    id: str
    object: Literal["vector_store.files_batch"] = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: FileStatus = "in_progress"
    file_counts: FileCounts = FileCounts()


class CreateVectorStoreRequest(RequestModel):
    file_ids: list[str] | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    expires_after: VectorStoreExpiresAfter | None = None
    chunking_strategy: dict[str, Any] | None = None
    metadata: Metadata = None


class ModifyVectorStoreRequest(RequestModel):
    name: str | None = Field(default=None, max_length=256)
    expires_after: VectorStoreExpiresAfter | None = None
    metadata: Metadata = None


class CreateVectorStoreFileRequest(RequestModel):
    file_id: str
    chunking_strategy: dict[str, Any] | None = None
    attributes: Attributes = None


class UpdateVectorStoreFileRequest(RequestModel):
    attributes: Attributes


class FileContent(WireModel):
    type: Literal["text"] = "text"
    text: str


class FileContentPage(WireModel):
    object: Literal["vector_store.file_content.page"] = "vector_store.file_content.page"
    data: list[FileContent]
    has_more: bool = False
    next_page: str | None = None


class CreateFileBatchRequest(RequestModel):
    file_ids: list[str] | None = Field(default=None, min_length=1, max_length=2000)
    files: list[CreateVectorStoreFileRequest] | None = Field(
        default=None, min_length=1, max_length=2000
    )
    chunking_strategy: dict[str, Any] | None = None
    attributes: Attributes = None


class VectorStoreFileListQuery(ListQuery):
    filter: FileStatus | None = None


class RankingOptions(RequestModel):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0)


class ComparisonFilter(RequestModel):
    """`key` of a file's attributes compared with `value`."""

    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"] = "eq"
    key: str
    value: str | bool | float | list[str | float]


class CompoundFilter(RequestModel):
    """Filters combined with `and` or `or`."""

    type: Literal["and", "or"]
    filters: list[ComparisonFilter | CompoundFilter]


class SearchRequest(RequestModel):
    query: str | list[str]
    # Accepted and ignored: the query is searched as given.
    rewrite_query: bool = False
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: ComparisonFilter | CompoundFilter | None = None
    ranking_options: RankingOptions | None = None


class SearchContent(WireModel):
    type: Literal["text"] = "text"
    text: str


class SearchResult(WireModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, str | float | bool] | None
    content: list[SearchContent]


class SearchResultsPage(WireModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool = False
    next_page: str | None = None
