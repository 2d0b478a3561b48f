"""File wire models, in the spec's field order."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.protocol.common import ListQuery, Omittable, WireModel

__all__ = [
    "CreateFileRequest",
    "ExpiresAfter",
    "FileListQuery",
    "FileObject",
    "FilePurpose",
    "UploadPurpose",
]

# What a client may upload for (`CreateFileRequest.purpose`).
UploadPurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
# What a file may be for: also the purposes of files the server itself writes.
FilePurpose = Literal[
    "assistants",
    "assistants_output",
    "batch",
    "batch_output",
    "fine-tune",
    "fine-tune-results",
    "vision",
    "user_data",
    "evals",
]


class FileObject(WireModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: Omittable[int] = None
    filename: str
    purpose: FilePurpose
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: Omittable[str] = None


class ExpiresAfter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anchor: Literal["created_at"]
    seconds: int = Field(ge=3600, le=2_592_000)


class CreateFileRequest(BaseModel):
    """The form fields of an upload besides the file itself. Form values arrive as text,
    so numbers are parsed from it (unlike the strict JSON request models)."""

    model_config = ConfigDict(extra="forbid")

    purpose: UploadPurpose
    expires_after: ExpiresAfter | None = None


class FileListQuery(ListQuery):
    """`GET /files`: a purpose filter, and up to 10,000 files a page (all by default)."""

    limit: int = Field(default=10_000, ge=1, le=10_000)
    purpose: str | None = None
