"""Request parsing and response rendering shared by every router."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from threadline.api.validation import translate
from threadline.protocol.common import wire_json

__all__ = ["json_response", "parse_body", "parse_query", "path_param"]

M = TypeVar("M", bound=BaseModel)


async def parse_body(request: Request, model: type[M]) -> M:
    """The JSON body validated as `model`; an empty body counts as `{}`."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as exc:
        raise translate(exc) from None


def parse_query(request: Request, model: type[M]) -> M:
    """The query string validated as `model` (a repeated key keeps its last value)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise translate(exc) from None


def path_param(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    return value


def json_response(body: BaseModel | dict[str, Any], status_code: int = 200) -> Response:
    content = wire_json(body) if isinstance(body, BaseModel) else orjson.dumps(body)
    return Response(content, status_code=status_code, media_type="application/json")
