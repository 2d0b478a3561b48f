"""HTTP layer: one router per resource, mounted under /v1."""

from __future__ import annotations

from starlette.routing import BaseRoute

from threadline.api import assistants, messages, threads

__all__ = ["api_routes"]


def api_routes() -> list[BaseRoute]:
    return [*assistants.routes, *threads.routes, *messages.routes]
