"""Routes for /v1/files: uploads arrive as multipart/form-data, content leaves as bytes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from threadline.api.deps import services
from threadline.api.http import json_response, parse_query, path_param
from threadline.api.multipart import read_form
from threadline.api.validation import translate
from threadline.errors import InvalidRequestError
from threadline.protocol.files import CreateFileRequest, FileListQuery
from threadline.services.file_types import media_type
from threadline.services.files import FileService, Upload, file_too_large

__all__ = ["routes"]

# What a form may add to the file's size (boundaries, headers, the other fields).
FORM_ALLOWANCE = 64 * 1024
_NESTED = re.compile(r"(\w+)\[(\w+)\]")


def _refuse_oversized(request: Request, files: FileService) -> None:
    """Refuse a body that announces more than a file may carry, before reading it."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > files.max_bytes + FORM_ALLOWANCE:
        raise file_too_large(files.max_bytes)


def _nest(fields: Mapping[str, str]) -> dict[str, Any]:
    """Form fields as a request body: `expires_after[seconds]` -> `{"expires_after":
    {"seconds": ...}}`, the way the SDKs encode objects in forms."""
    body: dict[str, Any] = {}
    for name, value in fields.items():
        nested = _NESTED.fullmatch(name)
        if nested is None:
            body[name] = value
        elif isinstance(body.setdefault(nested[1], {}), dict):
            body[nested[1]][nested[2]] = value
    return body


def _upload_request(fields: Mapping[str, str], upload: Upload | None) -> CreateFileRequest:
    if "file" in fields:
        raise InvalidRequestError(
            "Invalid type for 'file': expected a file, but got a string instead.",
            param="file",
            code="invalid_type",
        )
    if upload is None:
        raise InvalidRequestError(
            "Missing required parameter: 'file'.", param="file", code="missing_required_parameter"
        )
    try:
        return CreateFileRequest.model_validate(_nest(fields))
    except ValidationError as exc:
        raise translate(exc) from None


async def create(request: Request) -> Response:
    files = services(request).files
    _refuse_oversized(request, files)

    async def receive(
        filename: str, fields: Mapping[str, str], chunks: AsyncIterator[bytes]
    ) -> Upload:
        return await files.receive(filename, chunks, fields.get("purpose"))

    form = await read_form(request, "file", receive, files.discard)
    try:
        body = _upload_request(form.fields, form.file)
    except BaseException:
        if form.file is not None:
            await files.discard(form.file)
        raise
    assert form.file is not None
    return json_response(await files.create(form.file, body))


async def list_(request: Request) -> Response:
    query = parse_query(request, FileListQuery)
    return json_response(await services(request).files.list(query))


async def retrieve(request: Request) -> Response:
    return json_response(await services(request).files.get(path_param(request, "id")))


async def delete(request: Request) -> Response:
    return json_response(await services(request).files.delete(path_param(request, "id")))


async def content(request: Request) -> Response:
    file, chunks = await services(request).files.content(path_param(request, "id"))
    # The media type as is: no charset is claimed for bytes nobody decoded.
    headers = {"content-type": media_type(file.filename), "content-length": str(file.bytes)}
    return StreamingResponse(chunks, headers=headers)


routes = [
    Route("/files", create, methods=["POST"]),
    Route("/files", list_, methods=["GET"]),
    Route("/files/{id}", retrieve, methods=["GET"]),
    Route("/files/{id}", delete, methods=["DELETE"]),
    Route("/files/{id}/content", content, methods=["GET"]),
]
