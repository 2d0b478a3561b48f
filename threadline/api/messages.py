"""Routes for /v1/threads/{thread_id}/messages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadline.api.deps import services
from threadline.api.http import json_response, parse_body, parse_query, path_param
from threadline.protocol.messages import CreateMessageRequest, ModifyMessageRequest
from threadline.services.messages import MessageListQuery

__all__ = ["routes"]


def _ids(request: Request) -> tuple[str, str]:
    return path_param(request, "thread_id"), path_param(request, "message_id")


async def create(request: Request) -> Response:
    body = await parse_body(request, CreateMessageRequest)
    thread_id = path_param(request, "thread_id")
    return json_response(await services(request).messages.create(thread_id, body))


async def list_(request: Request) -> Response:
    query = parse_query(request, MessageListQuery)
    thread_id = path_param(request, "thread_id")
    return json_response(await services(request).messages.list(thread_id, query))


async def retrieve(request: Request) -> Response:
    return json_response(await services(request).messages.get(*_ids(request)))


async def modify(request: Request) -> Response:
    body = await parse_body(request, ModifyMessageRequest)
    return json_response(await services(request).messages.modify(*_ids(request), body))


async def delete(request: Request) -> Response:
    return json_response(await services(request).messages.delete(*_ids(request)))


_ONE = "/threads/{thread_id}/messages/{message_id}"

routes = [
    Route("/threads/{thread_id}/messages", create, methods=["POST"]),
    Route("/threads/{thread_id}/messages", list_, methods=["GET"]),
    Route(_ONE, retrieve, methods=["GET"]),
    Route(_ONE, modify, methods=["POST"]),
    Route(_ONE, delete, methods=["DELETE"]),
]
