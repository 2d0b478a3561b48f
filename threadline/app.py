"""The ASGI application: `create_app(settings)` wires everything in its lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from threadline.api import api_routes, health
from threadline.api.auth import BearerAuth
from threadline.api.errors import EXCEPTION_HANDLERS
from threadline.blobs import BlobStore
from threadline.config import Settings
from threadline.engine import Engine
from threadline.inference import ModelClient
from threadline.services import Services
from threadline.store import Store, open_store

__all__ = ["create_app"]

logger = logging.getLogger("threadline")


def _warn_about(settings: Settings) -> None:
    if not settings.api_key_set():
        logger.warning(
            "THREADLINE_API_KEYS is not set: the API is OPEN to anyone who can reach it. "
            "Set THREADLINE_API_KEYS for anything but local development."
        )
    if not settings.model_base_url and not settings.config:
        logger.warning(
            "THREADLINE_MODEL_BASE_URL is not set: every run will fail until it names an "
            "OpenAI-compatible endpoint (base URL ending in /v1) or THREADLINE_CONFIG names a "
            "routing file."
        )


def create_app(
    settings: Settings,
    store: Store | None = None,
    model: ModelClient | None = None,
    blobs: BlobStore | None = None,
    started: Callable[[], None] | None = None,
) -> Starlette:
    """The application. With `store` given it is used as is (tests); otherwise the store
    named by the settings is opened, migrated and closed with the app. `model` replaces
    the configured upstream, `blobs` the files under the data directory (tests); `started`
    is called once the app has started up, before it serves."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _warn_about(settings)
        active = (
            store
            if store is not None
            else await open_store(settings.resolved_database_url(), settings.database_connections)
        )
        engine = Engine.build(settings, active, model, blobs)
        app.state.store = active
        app.state.blobs = engine.blobs
        app.state.engine = engine
        app.state.services = Services.over(
            active,
            engine.bus,
            settings.run_expiry_seconds,
            engine.poll_interval,
            blobs=engine.blobs,
            max_file_bytes=settings.max_file_bytes,
            embedder=engine.embedder,
            models=engine.models,
        )
        await engine.start(claim=settings.embedded_worker)
        if started is not None:
            started()
        try:
            yield
        finally:
            await engine.close()
            if store is None:
                await active.close()

    return Starlette(
        routes=[Mount("/v1", routes=api_routes()), *health.routes],
        middleware=[Middleware(BearerAuth, keys=settings.api_key_set())],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
