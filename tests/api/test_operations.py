"""Routing at the HTTP edge (/v1/models, 400 for unroutable models) and the operations
endpoints (/healthz, /readyz, /metrics), in process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from threadline.app import create_app
from threadline.blobs import MemoryBlobStore
from threadline.config import Settings
from threadline.store.memory import MemoryStore
from threadline.testing import FakeModel, Reply

ROUTING = """
[upstreams.local]
base_url = "http://127.0.0.1:9/v1"

[models."qwen2.5-7b"]
upstream = "local"
aliases = ["gpt-4o"]
"""

NOT_FOUND = {
    "message": "The requested model 'gpt-5' does not exist.",
    "type": "invalid_request_error",
    "param": "model",
    "code": "model_not_found",
}


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "routing.toml"
    path.write_text(ROUTING)
    app = create_app(Settings(config=str(path)), store=MemoryStore(), blobs=MemoryBlobStore())
    with TestClient(app) as client:
        yield client


def _assistant(client: TestClient, model: str = "gpt-4o") -> str:
    response = client.post("/v1/assistants", json={"model": model})
    assert response.status_code == 200, response.text
    identifier: str = response.json()["id"]
    return identifier


def test_models_lists_every_routable_name(routed: TestClient) -> None:
    body = routed.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["qwen2.5-7b", "gpt-4o"]
    assert body["data"][0] == {
        "id": "qwen2.5-7b",
        "object": "model",
        "created": 0,
        "owned_by": "threadline",
    }


def test_a_model_is_retrieved_by_name_or_alias(routed: TestClient) -> None:
    assert routed.get("/v1/models/gpt-4o").json()["id"] == "gpt-4o"
    missing = routed.get("/v1/models/gpt-5")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


def test_a_run_on_an_unroutable_model_is_refused_at_creation(routed: TestClient) -> None:
    assistant = _assistant(routed)
    thread = routed.post("/v1/threads", json={}).json()["id"]
    response = routed.post(
        f"/v1/threads/{thread}/runs", json={"assistant_id": assistant, "model": "gpt-5"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": NOT_FOUND}
    assert routed.get(f"/v1/threads/{thread}/runs").json()["data"] == []


def test_create_thread_and_run_is_refused_before_the_thread_is_made(routed: TestClient) -> None:
    assistant = _assistant(routed)
    body: dict[str, Any] = {"assistant_id": assistant, "model": "gpt-5", "stream": True}
    response = routed.post("/v1/threads/runs", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": NOT_FOUND}


def test_assistants_may_only_name_routable_models(routed: TestClient) -> None:
    refused = routed.post("/v1/assistants", json={"model": "gpt-5"})
    assert refused.status_code == 400
    assert refused.json() == {"error": NOT_FOUND}
    assistant = _assistant(routed)
    modified = routed.post(f"/v1/assistants/{assistant}", json={"model": "gpt-5"})
    assert modified.status_code == 400
    assert routed.get(f"/v1/assistants/{assistant}").json()["model"] == "gpt-4o"
    assert routed.post(f"/v1/assistants/{assistant}", json={"model": "qwen2.5-7b"}).is_success


def test_without_routing_every_name_passes_and_none_is_listed() -> None:
    app = create_app(Settings(), store=MemoryStore(), model=FakeModel())
    with TestClient(app) as client:
        assert client.post("/v1/assistants", json={"model": "whatever"}).is_success
        assert client.get("/v1/models").json() == {"object": "list", "data": []}
        assert client.get("/v1/models/whatever").json()["id"] == "whatever"


def test_health_and_readiness_need_no_key() -> None:
    app = create_app(Settings(api_keys="k1"), store=MemoryStore(), model=FakeModel())
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ok"}
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/models").status_code == 401


class _Behind(MemoryStore):
    async def not_ready(self) -> str | None:
        return "the database schema is at 0001, this version needs 0005"


def test_readiness_fails_with_the_reason() -> None:
    with TestClient(create_app(Settings(), store=_Behind(), model=FakeModel())) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "reason": "the database schema is at 0001, this version needs 0005",
    }
    assert client.get("/healthz").status_code == 200


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _wait_for(client: TestClient, thread: str, run: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/threads/{thread}/runs/{run}").json()
        if body["status"] == "completed":
            return body
        time.sleep(0.02)
    raise AssertionError(f"run {run} did not complete")


def test_metrics_count_runs_tokens_and_the_queue() -> None:
    model = FakeModel(script=[Reply(text="hello there", usage=(12, 3))])
    with TestClient(create_app(Settings(), store=MemoryStore(), model=model)) as client:
        assistant = _assistant(client)
        hello = {"messages": [{"role": "user", "content": "hi"}]}
        body = {"assistant_id": assistant, "thread": hello}
        created = client.post("/v1/threads/runs", json=body).json()
        _wait_for(client, created["thread_id"], created["id"])
        streamed = client.post(
            f"/v1/threads/{created['thread_id']}/runs",
            json={"assistant_id": assistant, "stream": True},
        )
        assert "thread.run.completed" in streamed.text
        response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert samples[("threadline_runs_total", (("status", "completed"),))] == 2
    assert samples[("threadline_run_duration_seconds_count", (("status", "completed"),))] == 2
    assert samples[("threadline_tokens_total", (("kind", "prompt"),))] >= 12
    assert samples[("threadline_queue_depth", ())] == 0
    assert samples[("threadline_runs_active", (("status", "in_progress"),))] == 0
    assert samples[("threadline_active_streams", ())] == 0
