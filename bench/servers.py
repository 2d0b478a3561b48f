"""The processes a benchmark measures: a fake upstream model and `threadline serve`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["Process", "fake_upstream", "postgres_database", "threadline"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def wait_until_up(self, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"process exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("process did not answer in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextlib.contextmanager
def _running(command: list[str], port: int, env: dict[str, str]) -> Iterator[Process]:
    process = Process(
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        port,
    )
    try:
        process.wait_until_up()
        yield process
    finally:
        process.stop()


@contextlib.contextmanager
def fake_upstream(latency_ms: float = 0.0, tokens_per_second: float = 0.0) -> Iterator[Process]:
    port = _free_port()
    command = [sys.executable, "-m", "threadline.fake_upstream", "--port", str(port)]
    command += ["--latency-ms", str(latency_ms), "--tokens-per-second", str(tokens_per_second)]
    with _running(command, port, dict(os.environ)) as process:
        yield process


@contextlib.contextmanager
def threadline(
    upstream_url: str, database_url: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[Process]:
    """`threadline serve` on SQLite in a fresh directory, or on `database_url`; `settings`
    adds `THREADLINE_*` variables."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as workdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
        env["THREADLINE_MODEL_BASE_URL"] = upstream_url
        env["THREADLINE_DATABASE_URL"] = database_url or str(Path(workdir) / "bench.db")
        env["THREADLINE_DATA_DIR"] = workdir
        env["THREADLINE_LOG_LEVEL"] = "warning"
        env |= settings or {}
        command = [sys.executable, "-m", "threadline", "serve", "--port", str(port)]
        with _running(command, port, env) as process:
            yield process


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


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A scratch database on the server `admin_url` names, dropped afterwards."""
    name = f"threadline_bench_{secrets.token_hex(6)}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    finally:
        asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
