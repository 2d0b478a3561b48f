"""Routes for /v1/models: what the routing configuration can answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadline.api.http import json_response, path_param
from threadline.engine import Engine
from threadline.errors import InvalidRequestError, NotFoundError
from threadline.routing import Route as ModelRoute

__all__ = ["routes"]


def _model(route: ModelRoute) -> dict[str, object]:
    return {"id": route.name, "object": "model", "created": 0, "owned_by": route.owned_by}


async def list_(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    routes = await engine.models.available()
    return json_response({"object": "list", "data": [_model(route) for route in routes]})


async def retrieve(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    name = path_param(request, "model")
    listed = {route.name: route for route in await engine.models.available()}
    found = listed.get(name)
    if found is None:
        try:
            engine.models.check(name)
        except InvalidRequestError:
            raise NotFoundError(
                f"The model '{name}' does not exist", param="model", code="model_not_found"
            ) from None
        found = ModelRoute(name, "", name)
    return json_response(_model(found))


routes = [
    Route("/models", list_, methods=["GET"]),
    Route("/models/{model:path}", retrieve, methods=["GET"]),
]
