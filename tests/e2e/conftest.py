"""Fixtures: one real `threadline serve` per backend per session, and clients that check
every response against the OpenAPI spec."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from tests.e2e.harness import (
    POSTGRES_ENV,
    Databases,
    PostgresDatabases,
    Server,
    ServerFactory,
    SqliteFiles,
    async_sdk_client,
    raw_client,
    sdk_client,
    start_server,
)
from tests.pgvector_server import pgvector_server_url
from threadline.fake_upstream import FakeUpstream

__all__ = ["pgvector_server_url"]  # a fixture: the embedded PostgreSQL with pgvector


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """Fresh databases of the backend under test."""
    if backend == "sqlite":
        yield SqliteFiles(tmp_path_factory.mktemp("sqlite"))
        return
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped")
    created = PostgresDatabases(admin_url)
    try:
        yield created
    finally:
        created.drop_all()


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    """The scripted OpenAI-compatible model every session server talks to."""
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="session")
def server(
    databases: Databases, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The session's server for this backend, open (no API keys), answered by `upstream`."""
    env = {"THREADLINE_MODEL_BASE_URL": upstream.base_url, "THREADLINE_RUN_EXPIRY_SECONDS": "600"}
    running = start_server(databases.new(), tmp_path_factory.mktemp("server"), env=env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def base_url(server: Server) -> str:
    return server.base_url


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Starts extra servers for one test (restarts, API keys); stops them afterwards."""
    factory = ServerFactory(tmp_path_factory.mktemp("servers"))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with sdk_client(base_url) as sdk:
        yield sdk


@pytest.fixture
async def async_client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with async_sdk_client(base_url) as sdk:
        yield sdk


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with raw_client(base_url) as raw:
        yield raw
