"""Message wire models: content parts, attachments, the message object and its requests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from threadline.protocol.common import Metadata, Omittable, RequestModel, WireModel
from threadline.protocol.tools import AttachmentTool

__all__ = [
    "Attachment",
    "CreateMessageRequest",
    "ImageFileContent",
    "ImageUrlContent",
    "Message",
    "MessageContent",
    "ModifyMessageRequest",
    "RefusalContent",
    "TextContent",
]

Detail = Literal["auto", "low", "high"]


class ImageFile(RequestModel):
    file_id: str = Field(min_length=1)
    detail: Omittable[Detail] = None


class ImageFileContent(RequestModel):
    type: Literal["image_file"]
    image_file: ImageFile


class ImageUrl(RequestModel):
    url: str = Field(min_length=1)
    detail: Omittable[Detail] = None


class ImageUrlContent(RequestModel):
    type: Literal["image_url"]
    image_url: ImageUrl


class TextPart(RequestModel):
    """A text part as a request gives it: `{type: text, text: "..."}`."""

    type: Literal["text"]
    text: str


ContentPartRequest = Annotated[
    ImageFileContent | ImageUrlContent | TextPart, Field(discriminator="type")
]


class FileCitation(WireModel):
    file_id: str


class FileCitationAnnotation(WireModel):
    type: Literal["file_citation"] = "file_citation"
    text: str
    file_citation: FileCitation
    start_index: int
    end_index: int


class FilePath(WireModel):
    file_id: str


class FilePathAnnotation(WireModel):
    type: Literal["file_path"] = "file_path"
    text: str
    file_path: FilePath
    start_index: int
    end_index: int


Annotation = Annotated[FileCitationAnnotation | FilePathAnnotation, Field(discriminator="type")]


class Text(WireModel):
    value: str
    annotations: list[Annotation] = Field(default_factory=list)


class TextContent(WireModel):
    type: Literal["text"] = "text"
    text: Text


class RefusalContent(WireModel):
    type: Literal["refusal"] = "refusal"
    refusal: str


MessageContent = Annotated[
    ImageFileContent | ImageUrlContent | TextContent | RefusalContent,
    Field(discriminator="type"),
]


class Attachment(RequestModel):
    file_id: str = Field(min_length=1)
    tools: list[AttachmentTool] = Field(default_factory=list)


class IncompleteDetails(WireModel):
    reason: Literal["content_filter", "max_tokens", "run_cancelled", "run_expired", "run_failed"]


class Message(WireModel):
    id: str
    object: Literal["thread.message"] = "thread.message"
    created_at: int
    thread_id: str
    status: Literal["in_progress", "incomplete", "completed"]
    incomplete_details: IncompleteDetails | None = None
    completed_at: int | None = None
    incomplete_at: int | None = None
    role: Literal["user", "assistant"]
    content: list[MessageContent]
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[Attachment] | None = None
    metadata: dict[str, str] | None = None


class CreateMessageRequest(RequestModel):
    role: Literal["user", "assistant"]
    content: (
        Annotated[str, Field(min_length=1)]
        | Annotated[list[ContentPartRequest], Field(min_length=1)]
    )
    attachments: list[Attachment] | None = None
    metadata: Metadata = None


class ModifyMessageRequest(RequestModel):
    metadata: Metadata = None
