"""The HTTP edge in process: errors in the envelope, auth, routing."""

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from threadline.app import create_app
from threadline.config import Settings
from threadline.protocol.assistants import Assistant
from threadline.store.memory import MemoryStore
from threadline.testing import memory_app


class BrokenStore(MemoryStore):
    """A store whose reads fail the way a lost database connection would."""

    async def get_assistant(self, assistant_id: str) -> Assistant | None:
        raise RuntimeError("database went away")


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(memory_app()) as test_client:
        yield test_client


def _error(response_json: object) -> dict[str, object]:
    assert isinstance(response_json, dict)
    assert set(response_json) == {"error"}
    error = response_json["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


def test_unknown_route_is_404_in_the_envelope(client: TestClient) -> None:
    response = client.post("/v1/nothing/here")
    assert response.status_code == 404
    assert _error(response.json())["message"] == "Invalid URL (POST /v1/nothing/here)"


def test_wrong_method_is_405_in_the_envelope(client: TestClient) -> None:
    response = client.put("/v1/assistants")
    assert response.status_code == 405
    assert _error(response.json())["type"] == "invalid_request_error"


def test_unexpected_failure_is_a_500_envelope_without_traceback() -> None:
    app = create_app(Settings(), store=BrokenStore())
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/assistants/asst_x")
    assert response.status_code == 500
    error = _error(response.json())
    assert error["type"] == "server_error"
    assert "Traceback" not in response.text
    assert "database went away" not in response.text


def test_empty_body_counts_as_an_empty_object(client: TestClient) -> None:
    response = client.post("/v1/threads", content=b"")
    assert response.status_code == 200
    assert response.json()["metadata"] == {}
    assert response.json()["tool_resources"] == {}


def test_openai_beta_header_is_accepted(client: TestClient) -> None:
    response = client.post("/v1/threads", json={}, headers={"OpenAI-Beta": "assistants=v2"})
    assert response.status_code == 200


def test_keys_are_required_when_configured() -> None:
    with TestClient(memory_app(api_keys="k1,k2")) as client:
        missing = client.get("/v1/assistants")
        wrong = client.get("/v1/assistants", headers={"Authorization": "Bearer sk-wrong-key-123"})
        right = client.get("/v1/assistants", headers={"Authorization": "Bearer k2"})
        basic = client.get("/v1/assistants", headers={"Authorization": "Basic k1"})
    assert missing.status_code == 401
    assert "didn't provide an API key" in str(_error(missing.json())["message"])
    assert wrong.status_code == 401
    wrong_error = _error(wrong.json())
    assert wrong_error["code"] == "invalid_api_key"
    assert "sk-wrong-key-123" not in str(wrong_error["message"])
    assert right.status_code == 200
    assert basic.status_code == 401


def test_vector_store_ids_and_helper_together_are_refused(client: TestClient) -> None:
    both = {"vector_store_ids": ["vs_a"], "vector_stores": [{"file_ids": []}]}
    body: dict[str, object] = {"tool_resources": {"file_search": both}}
    response = client.post("/v1/threads", json=body)
    assert response.status_code == 400
    assert _error(response.json())["param"] == "tool_resources.file_search"


def test_modify_keeps_what_is_not_given(client: TestClient) -> None:
    created = client.post(
        "/v1/assistants",
        json={"model": "m", "name": "n", "temperature": 0.5, "metadata": {"a": "1"}},
    ).json()
    modified = client.post(
        f"/v1/assistants/{created['id']}", json={"metadata": {"b": "2"}, "top_p": None}
    ).json()
    assert modified["name"] == "n"
    assert modified["temperature"] == 0.5
    assert modified["metadata"] == {"b": "2"}
    assert modified["top_p"] == 1.0
    assert client.get(f"/v1/assistants/{created['id']}").json() == modified


def test_started_is_called_once_the_app_has_started() -> None:
    calls: list[object] = []

    def started() -> None:
        calls.append(app.state.engine)  # the engine is built and running

    app = create_app(Settings(), store=MemoryStore(), started=started)
    assert calls == []
    with TestClient(app) as test_client:
        assert len(calls) == 1
        assert test_client.get("/v1/models").status_code == 200
    assert len(calls) == 1
