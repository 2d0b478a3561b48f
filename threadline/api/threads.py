"""Routes for /v1/threads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadline.api.deps import services
from threadline.api.http import json_response, parse_body, path_param
from threadline.protocol.threads import CreateThreadRequest, ModifyThreadRequest

__all__ = ["routes"]


async def create(request: Request) -> Response:
    body = await parse_body(request, CreateThreadRequest)
    return json_response(await services(request).threads.create(body))


async def retrieve(request: Request) -> Response:
    return json_response(await services(request).threads.get(path_param(request, "thread_id")))


async def modify(request: Request) -> Response:
    body = await parse_body(request, ModifyThreadRequest)
    thread_id = path_param(request, "thread_id")
    return json_response(await services(request).threads.modify(thread_id, body))


async def delete(request: Request) -> Response:
    thread_id = path_param(request, "thread_id")
    return json_response(await services(request).threads.delete(thread_id))


routes = [
    Route("/threads", create, methods=["POST"]),
    Route("/threads/{thread_id}", retrieve, methods=["GET"]),
    Route("/threads/{thread_id}", modify, methods=["POST"]),
    Route("/threads/{thread_id}", delete, methods=["DELETE"]),
]
