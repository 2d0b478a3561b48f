"""`threadline serve` as a subprocess on a free port, fresh databases to point it at, and
clients that check every response against the OpenAPI spec."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import httpx2
import openai
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.openapi_check import async_response_validator_hook, response_validator_hook

__all__ = [
    "API_KEY",
    "POSTGRES_ENV",
    "SDK_DEPRECATED",
    "Databases",
    "PostgresDatabases",
    "Server",
    "ServerFactory",
    "SqliteFiles",
    "async_sdk_client",
    "raw_client",
    "run_node_script",
    "sdk_client",
    "start_server",
]

POSTGRES_ENV = "THREADLINE_TEST_POSTGRES_URL"
STARTUP_SECONDS = 15.0
STOP_SECONDS = 10.0
API_KEY = "sk-threadline-e2e"
TIMEOUT = 30.0

# The SDK marks every Assistants API method `@deprecated` (OpenAI retired the hosted API);
# calling one warns, and this suite runs with warnings as errors.
SDK_DEPRECATED = pytest.mark.filterwarnings(
    "ignore:(deprecated|The Assistants API is deprecated in favor of the Responses API)$"
    ":DeprecationWarning"
)


NODE_DIR = Path(__file__).resolve().parent.parent / "node"


def run_node_script(script: str, base_url: str) -> str:
    """Run `tests/node/<script>` with the official Node SDK against `base_url`; its stdout.
    Skips (with how to fix it) where node or the SDK is missing."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("node or tests/node/node_modules missing: run `npm ci --prefix tests/node`")
    result = subprocess.run(
        [node, str(NODE_DIR / script)],
        env={"THREADLINE_BASE_URL": base_url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(database_url: str, api_keys: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_DATABASE_URL"] = database_url
    if api_keys:
        env["THREADLINE_API_KEYS"] = api_keys
    return env | extra


@dataclass
class Server:
    """A running `threadline serve`; its output goes to files in `workdir`."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    database_url: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stderr(self) -> str:
        return (self.workdir / "stderr.log").read_text(errors="replace")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def wait_until_up(self) -> bool:
        """True once the port answers; False if the process exited first."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self.answers():
                return True
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"threadline serve did not answer within {STARTUP_SECONDS} s:\n{self.stderr()}")

    def stop(self) -> int:
        """SIGTERM, as a process manager would; SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _launch(database_url: str, workdir: Path, api_keys: str, env: dict[str, str]) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "threadline", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    environment = _server_env(database_url, api_keys, env)
    with (workdir / "stdout.log").open("wb") as out, (workdir / "stderr.log").open("wb") as err:
        process = subprocess.Popen(command, cwd=workdir, env=environment, stdout=out, stderr=err)
    return Server(process, port, workdir, database_url)


def start_server(
    database_url: str,
    workdir: Path,
    *,
    api_keys: str = "",
    env: dict[str, str] | None = None,
) -> Server:
    """Start `threadline serve` in `workdir` (so no stray `.env` is read) and wait for it;
    another free port is tried if the one picked was taken in the meantime. `env` adds
    settings (`THREADLINE_MODEL_BASE_URL` ...)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        server = _launch(database_url, workdir, api_keys, env or {})
        if server.wait_until_up():
            return server
        if "address already in use" not in server.stderr().lower():
            break
    code = server.process.returncode
    pytest.fail(f"threadline serve exited with {code}:\n{server.stderr()}")


@dataclass
class ServerFactory:
    """Starts servers for one test and stops them all when it ends."""

    root: Path
    started: list[Server] = field(default_factory=list)

    def __call__(
        self, database_url: str, *, api_keys: str = "", env: dict[str, str] | None = None
    ) -> Server:
        workdir = self.root / f"server-{len(self.started)}"
        server = start_server(database_url, workdir, api_keys=api_keys, env=env)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


class Databases(Protocol):
    """Hands out empty databases of one backend, as `THREADLINE_DATABASE_URL` values."""

    def new(self) -> str: ...

    def drop_all(self) -> None: ...


@dataclass
class SqliteFiles:
    directory: Path
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def new(self) -> str:
        return str(self.directory / f"threadline-{next(self._numbers)}.db")

    def drop_all(self) -> None:
        return None


async def _execute(url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE refuse to run in one)."""
    engine = create_async_engine(
        make_url(url).set(drivername="postgresql+asyncpg"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@dataclass
class PostgresDatabases:
    """Creates `threadline_e2e_<random>` databases on the server `admin_url` names."""

    admin_url: str
    names: list[str] = field(default_factory=list)

    def new(self) -> str:
        name = f"threadline_e2e_{secrets.token_hex(6)}"
        asyncio.run(_execute(self.admin_url, f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return _with_database(self.admin_url, name)

    def drop_all(self) -> None:
        for name in self.names:
            asyncio.run(_execute(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.names.clear()


def sdk_client(
    base_url: str, api_key: str = API_KEY, transport: httpx2.BaseTransport | None = None
) -> openai.OpenAI:
    """The official client, every response checked against the spec, no retries."""
    hooks = {"response": [response_validator_hook()]}
    http_client = httpx2.Client(event_hooks=hooks, transport=transport)
    return openai.OpenAI(
        base_url=base_url, api_key=api_key, http_client=http_client, max_retries=0, timeout=TIMEOUT
    )


def async_sdk_client(
    base_url: str, api_key: str = API_KEY, transport: httpx2.AsyncBaseTransport | None = None
) -> openai.AsyncOpenAI:
    """The official async client, every response checked against the spec, no retries."""
    hooks = {"response": [async_response_validator_hook()]}
    http_client = httpx2.AsyncClient(event_hooks=hooks, transport=transport)
    return openai.AsyncOpenAI(
        base_url=base_url, api_key=api_key, http_client=http_client, max_retries=0, timeout=TIMEOUT
    )


def raw_client(base_url: str, headers: dict[str, str] | None = None) -> httpx.Client:
    """A plain HTTP client for what the SDK will not send; responses are still checked."""
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=TIMEOUT,
        event_hooks={"response": [response_validator_hook()]},
    )
