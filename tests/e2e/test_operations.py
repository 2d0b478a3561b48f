"""Operating a real `threadline serve`: routing from a TOML file, as the SDK sees it; JSON
logs; the health, readiness and metrics endpoints; `threadline runs cancel` from another
process reaching the process that executes the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.harness import (
    SDK_DEPRECATED,
    Databases,
    Server,
    ServerFactory,
    free_port,
    sdk_client,
)
from threadline.fake_upstream import FakeUpstream

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]


@pytest.fixture
def own_upstream() -> Iterator[FakeUpstream]:
    """A fake upstream of this test's own (its script is not shared with the session's)."""
    with FakeUpstream() as fake:
        yield fake


def _routing(tmp_path: Path, upstream: FakeUpstream) -> Path:
    path = tmp_path / "threadline.toml"
    path.write_text(
        f'[upstreams.local]\nbase_url = "{upstream.base_url}"\nmax_concurrency = 4\n\n'
        '[models."qwen2.5-7b-instruct"]\nupstream = "local"\naliases = ["gpt-4o"]\n'
    )
    return path


def _wait_for(client: openai.OpenAI, thread_id: str, run_id: str, statuses: set[str]) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in statuses:
            return run
        time.sleep(0.05)
    pytest.fail(f"run {run_id} never reached {statuses}; it is {run.status}")


def _log_lines(server: Server) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.stderr().splitlines() if line.startswith("{")]


def test_routing_as_the_sdk_sees_it(
    databases: Databases,
    server_factory: ServerFactory,
    own_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    env = {"THREADLINE_CONFIG": str(_routing(tmp_path, own_upstream))}
    server = server_factory(databases.new(), env=env | {"THREADLINE_LOG_FORMAT": "json"})
    with sdk_client(server.base_url) as client:
        assert [m.id for m in client.models.list()] == ["qwen2.5-7b-instruct", "gpt-4o"]
        assert client.models.retrieve("gpt-4o").owned_by == "threadline"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-5")
        assistant = client.beta.assistants.create(model="gpt-4o")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.BadRequestError) as refused:
            client.beta.threads.runs.create(
                thread_id=thread.id, assistant_id=assistant.id, model="gpt-5"
            )
        assert refused.value.code == "model_not_found"
        assert refused.value.param == "model"
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed"
        assert run.model == "gpt-4o"
    assert [body["model"] for body in own_upstream.history] == ["qwen2.5-7b-instruct"]
    lines = _log_lines(server)
    assert lines, server.stderr()
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)


def test_health_readiness_and_metrics(databases: Databases, server_factory: ServerFactory) -> None:
    server = server_factory(databases.new(), api_keys="sk-ops")
    root = server.base_url.removesuffix("/v1")
    with httpx.Client(base_url=root, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json() == {"status": "ok"}
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert "threadline_queue_depth 0.0" in metrics.text
        assert http.get("/v1/models").status_code == 401


def _admin(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_DATABASE_URL"] = server.database_url
    return subprocess.run(
        [sys.executable, "-m", "threadline", *args],
        cwd=server.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_runs_cancel_from_the_cli_stops_the_run_where_it_executes(
    databases: Databases, server_factory: ServerFactory, own_upstream: FakeUpstream
) -> None:
    # The upstream answers after a minute: only a cancel that reaches the executing
    # process ends the run within _wait_for's 30 s.
    own_upstream.enqueue({"text": "too late", "delay_ms": 60_000})
    env = {"THREADLINE_MODEL_BASE_URL": own_upstream.base_url}
    server = server_factory(databases.new(), env=env)
    with sdk_client(server.base_url) as client:
        assistant = client.beta.assistants.create(model="fake-model")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "wait"}])
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        _wait_for(client, thread.id, run.id, {"in_progress"})
        listed = _admin(server, "runs", "list", "--status", "in_progress")
        assert listed.returncode == 0, listed.stderr
        assert run.id in listed.stdout
        cancelled = _admin(server, "runs", "cancel", run.id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.split() == [run.id, "cancelling"]
        ended = _wait_for(client, thread.id, run.id, {"cancelled"})
        assert ended.cancelled_at is not None


def test_a_worker_serves_its_own_metrics(
    databases: Databases,
    server_factory: ServerFactory,
    own_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    database = databases.new()
    settings = {"THREADLINE_MODEL_BASE_URL": own_upstream.base_url}
    server = server_factory(database, env=settings | {"THREADLINE_EMBEDDED_WORKER": "false"})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env |= settings | {"THREADLINE_DATABASE_URL": database}
    env["THREADLINE_WORKER_METRICS_PORT"] = str(port)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "threadline", "worker"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with sdk_client(server.base_url) as client:
            assistant = client.beta.assistants.create(model="fake-model")
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
            run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
            assert _wait_for(client, thread.id, run.id, {"completed"}).status == "completed"
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        worker.terminate()
        worker.wait(10)
    assert 'threadline_runs_total{status="completed"} 1.0' in text, log.read_text()
    assert 'threadline_upstream_call_seconds_count{outcome="ok",upstream="default"} 1.0' in text
