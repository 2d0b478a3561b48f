"""Operations endpoints outside /v1, without auth: `/healthz` (the process answers),
`/readyz` (the database is reachable and its schema current) and `/metrics` (Prometheus).
Keep them off the public side of the load balancer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadline.api.http import json_response
from threadline.engine import Engine
from threadline.metrics import CONTENT_TYPE

__all__ = ["routes"]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    reason = await _engine(request).store.not_ready()
    if reason is not None:
        return json_response({"status": "unavailable", "reason": reason}, 503)
    return json_response({"status": "ok"})


async def metrics(request: Request) -> Response:
    engine = _engine(request)
    engine.metrics.set_run_counts(await engine.store.count_active_runs())
    return Response(engine.metrics.render(), media_type=CONTENT_TYPE)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
