"""Routes for /v1/assistants."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadline.api.deps import services
from threadline.api.http import json_response, parse_body, parse_query, path_param
from threadline.protocol.assistants import CreateAssistantRequest, ModifyAssistantRequest
from threadline.protocol.common import ListQuery

__all__ = ["routes"]


async def create(request: Request) -> Response:
    body = await parse_body(request, CreateAssistantRequest)
    return json_response(await services(request).assistants.create(body))


async def list_(request: Request) -> Response:
    query = parse_query(request, ListQuery)
    return json_response(await services(request).assistants.list(query))


async def retrieve(request: Request) -> Response:
    return json_response(await services(request).assistants.get(path_param(request, "id")))


async def modify(request: Request) -> Response:
    body = await parse_body(request, ModifyAssistantRequest)
    assistant_id = path_param(request, "id")
    return json_response(await services(request).assistants.modify(assistant_id, body))


async def delete(request: Request) -> Response:
    return json_response(await services(request).assistants.delete(path_param(request, "id")))


routes = [
    Route("/assistants", create, methods=["POST"]),
    Route("/assistants", list_, methods=["GET"]),
    Route("/assistants/{id}", retrieve, methods=["GET"]),
    Route("/assistants/{id}", modify, methods=["POST"]),
    Route("/assistants/{id}", delete, methods=["DELETE"]),
]
