"""HTTP layer: one router per resource, mounted under /v1."""

from __future__ import annotations

from starlette.routing import BaseRoute

from threadline.api import assistants, files, messages, models, runs, threads, vector_stores

__all__ = ["api_routes"]


def api_routes() -> list[BaseRoute]:
    # Runs first: `/threads/runs` must win over `/threads/{thread_id}`.
    return [
        *assistants.routes,
        *runs.routes,
        *threads.routes,
        *messages.routes,
        *files.routes,
        *vector_stores.routes,
        *models.routes,
    ]
