"""Runs survive their process: kill -9 mid-run and restart; several processes on one
PostgreSQL share the queue and never execute a run twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.e2e.harness import (
    POSTGRES_ENV,
    SDK_DEPRECATED,
    Databases,
    PostgresDatabases,
    ServerFactory,
    sdk_client,
)
from threadline.fake_upstream import FakeUpstream

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

LEASE = "2"


def _settings(upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "THREADLINE_MODEL_BASE_URL": upstream.base_url,
        "THREADLINE_RUN_LEASE_SECONDS": LEASE,
        "THREADLINE_MODEL_MAX_RETRIES": "0",
    } | extra


def _wait_for(client: openai.OpenAI, thread_id: str, run_id: str, statuses: set[str]) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in statuses:
            return run
        time.sleep(0.05)
    pytest.fail(f"run {run_id} never reached {statuses}; it is {run.status}")


def test_kill_9_mid_run_then_restart_resumes_the_run(
    databases: Databases, server_factory: ServerFactory, upstream: FakeUpstream
) -> None:
    upstream.reset()
    upstream.enqueue({"text": "never delivered", "delay_ms": 5000})
    database = databases.new()
    first = server_factory(database, env=_settings(upstream))
    with sdk_client(first.base_url) as client:
        assistant = client.beta.assistants.create(model="fake-model")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "survive"}])
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        _wait_for(client, thread.id, run.id, {"in_progress"})
    _wait_until(lambda: len(upstream.history) == 1)  # the model is answering, slowly
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    second = server_factory(database, env=_settings(upstream))
    with sdk_client(second.base_url) as client:
        done = _wait_for(client, thread.id, run.id, {"completed", "failed"})
        assert done.status == "completed"
        messages = client.beta.threads.messages.list(thread.id, order="asc").data
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[1].content[0].text.value == "Echo: survive"  # type: ignore[union-attr]
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
        assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class WorkerProcess:
    """A `threadline worker` subprocess."""

    def __init__(self, database_url: str, env: dict[str, str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
        environment |= env | {"THREADLINE_DATABASE_URL": database_url}
        self.log = workdir / "worker.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "threadline", "worker"],
                cwd=workdir,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def postgres_database(tmp_path: Path) -> Iterator[str]:
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped")
    created = PostgresDatabases(admin)
    try:
        yield created.new()
    finally:
        created.drop_all()


@pytest.mark.postgres
def test_replicas_and_workers_share_the_queue(
    postgres_database: str,
    server_factory: ServerFactory,
    upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    upstream.reset()
    settings = _settings(upstream)
    api_only = settings | {"THREADLINE_EMBEDDED_WORKER": "false"}
    servers = [server_factory(postgres_database, env=settings)]
    servers.append(server_factory(postgres_database, env=api_only))
    workers = [WorkerProcess(postgres_database, settings, tmp_path / f"w{i}") for i in range(2)]
    try:
        runs = _create_runs(servers[0].base_url, servers[1].base_url, count=30)
        with sdk_client(servers[1].base_url) as client:
            for thread_id, run_id in runs:
                done = _wait_for(client, thread_id, run_id, {"completed", "failed"})
                assert done.status == "completed", done.last_error
                steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id).data
                assert len(steps) == 1
    finally:
        for worker in workers:
            worker.stop()
    asked = [request["messages"][-1]["content"] for request in upstream.history]
    assert sorted(asked) == sorted(f"run {i}" for i in range(30))


def _create_runs(first_url: str, second_url: str, count: int) -> list[tuple[str, str]]:
    created = []
    with sdk_client(first_url) as one, sdk_client(second_url) as two:
        assistant = one.beta.assistants.create(model="fake-model")
        for i in range(count):
            client = one if i % 2 else two
            run = client.beta.threads.create_and_run(
                assistant_id=assistant.id,
                thread={"messages": [{"role": "user", "content": f"run {i}"}]},
            )
            created.append((run.thread_id, run.id))
    return created
