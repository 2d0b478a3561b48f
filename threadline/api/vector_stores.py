"""Routes for /v1/vector_stores: the stores, their files, file batches and search."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadline.api.deps import services
from threadline.api.http import json_response, parse_body, parse_query, path_param
from threadline.protocol.common import ListQuery
from threadline.protocol.vector_stores import (
    CreateFileBatchRequest,
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    ModifyVectorStoreRequest,
    SearchRequest,
    UpdateVectorStoreFileRequest,
    VectorStoreFileListQuery,
)

__all__ = ["routes"]


def _ids(request: Request, *names: str) -> list[str]:
    return [path_param(request, name) for name in names]


async def create(request: Request) -> Response:
    body = await parse_body(request, CreateVectorStoreRequest)
    return json_response(await services(request).vector_stores.create(body))


async def list_(request: Request) -> Response:
    query = parse_query(request, ListQuery)
    return json_response(await services(request).vector_stores.list(query))


async def retrieve(request: Request) -> Response:
    return json_response(await services(request).vector_stores.get(path_param(request, "vs")))


async def modify(request: Request) -> Response:
    body = await parse_body(request, ModifyVectorStoreRequest)
    vector_store_id = path_param(request, "vs")
    return json_response(await services(request).vector_stores.modify(vector_store_id, body))


async def delete(request: Request) -> Response:
    return json_response(await services(request).vector_stores.delete(path_param(request, "vs")))


async def search(request: Request) -> Response:
    body = await parse_body(request, SearchRequest)
    return json_response(
        await services(request).search.search_page(path_param(request, "vs"), body)
    )


async def create_file(request: Request) -> Response:
    body = await parse_body(request, CreateVectorStoreFileRequest)
    vector_store_id = path_param(request, "vs")
    return json_response(await services(request).vector_stores.add_file(vector_store_id, body))


async def list_files(request: Request) -> Response:
    query = parse_query(request, VectorStoreFileListQuery)
    vector_store_id = path_param(request, "vs")
    return json_response(await services(request).vector_stores.list_files(vector_store_id, query))


async def retrieve_file(request: Request) -> Response:
    found = await services(request).vector_stores.get_file(*_ids(request, "vs", "file"))
    return json_response(found)


async def update_file(request: Request) -> Response:
    body = await parse_body(request, UpdateVectorStoreFileRequest)
    vector_store_id, file_id = _ids(request, "vs", "file")
    updated = await services(request).vector_stores.update_file(vector_store_id, file_id, body)
    return json_response(updated)


async def file_content(request: Request) -> Response:
    found = await services(request).vector_stores.file_content(*_ids(request, "vs", "file"))
    return json_response(found)


async def delete_file(request: Request) -> Response:
    deleted = await services(request).vector_stores.delete_file(*_ids(request, "vs", "file"))
    return json_response(deleted)


async def create_batch(request: Request) -> Response:
    body = await parse_body(request, CreateFileBatchRequest)
    vector_store_id = path_param(request, "vs")
    return json_response(await services(request).vector_stores.create_batch(vector_store_id, body))


async def retrieve_batch(request: Request) -> Response:
    found = await services(request).vector_stores.get_batch(*_ids(request, "vs", "batch"))
    return json_response(found)


async def cancel_batch(request: Request) -> Response:
    found = await services(request).vector_stores.cancel_batch(*_ids(request, "vs", "batch"))
    return json_response(found)


async def list_batch_files(request: Request) -> Response:
    query = parse_query(request, VectorStoreFileListQuery)
    vector_store_id, batch_id = _ids(request, "vs", "batch")
    found = await services(request).vector_stores.list_batch_files(vector_store_id, batch_id, query)
    return json_response(found)


_VS = "/vector_stores/{vs}"
routes = [
    Route("/vector_stores", create, methods=["POST"]),
    Route("/vector_stores", list_, methods=["GET"]),
    Route(_VS, retrieve, methods=["GET"]),
    Route(_VS, modify, methods=["POST"]),
    Route(_VS, delete, methods=["DELETE"]),
    Route(_VS + "/search", search, methods=["POST"]),
    Route(_VS + "/files", create_file, methods=["POST"]),
    Route(_VS + "/files", list_files, methods=["GET"]),
    Route(_VS + "/files/{file}", retrieve_file, methods=["GET"]),
    Route(_VS + "/files/{file}", update_file, methods=["POST"]),
    Route(_VS + "/files/{file}", delete_file, methods=["DELETE"]),
    Route(_VS + "/files/{file}/content", file_content, methods=["GET"]),
    Route(_VS + "/file_batches", create_batch, methods=["POST"]),
    Route(_VS + "/file_batches/{batch}", retrieve_batch, methods=["GET"]),
    Route(_VS + "/file_batches/{batch}/cancel", cancel_batch, methods=["POST"]),
    Route(_VS + "/file_batches/{batch}/files", list_batch_files, methods=["GET"]),
]
