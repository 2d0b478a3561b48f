"""`threadline worker`: the run engine alone, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from threadline.config import Settings
from threadline.engine import Engine
from threadline.store import open_store

__all__ = ["run_worker"]

logger = logging.getLogger("threadline.worker")


async def run_worker(settings: Settings, started: Callable[[], None] | None = None) -> None:
    """Execute runs until SIGTERM or SIGINT; `started` is called once the engine runs."""
    if not settings.model_base_url and not settings.config:
        logger.warning("THREADLINE_MODEL_BASE_URL is not set: every run will fail.")
    store = await open_store(settings.resolved_database_url(), settings.database_connections)
    engine = Engine.build(settings, store)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await engine.start(claim=True)
    if started is not None:
        started()
    logger.info("worker %s is executing runs", engine.worker.owner)
    metrics = _serve_metrics(settings, engine)
    try:
        await stopping.wait()
    finally:
        if metrics is not None:
            metrics.shutdown()
        await engine.close()
        await store.close()


def _serve_metrics(settings: Settings, engine: Engine) -> WSGIServer | None:
    """This process's metrics at `/metrics` on a thread of their own (the database gauges
    are left to `threadline serve`, whose `/metrics` reads them)."""
    if not settings.worker_metrics_port:
        return None
    server, _ = start_http_server(
        settings.worker_metrics_port, addr=settings.host, registry=engine.metrics.registry
    )
    logger.info("metrics at http://%s:%d/metrics", settings.host, settings.worker_metrics_port)
    return server
