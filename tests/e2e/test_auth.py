"""Bearer keys: a server with THREADLINE_API_KEYS refuses requests without one of them, as
OpenAI does; a server without keys is open and says so loudly at startup."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.e2e.harness import SDK_DEPRECATED, Server, raw_client, sdk_client, start_server

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
OPEN_WARNING = "THREADLINE_API_KEYS is not set"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("keyed")
    running = start_server(str(workdir / "keyed.db"), workdir / "server", api_keys="k1, k2")
    try:
        yield running
    finally:
        running.stop()


def _error(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 401, response.text
    error: dict[str, object] = response.json()["error"]
    return error


def test_no_key_is_refused(keyed_server: Server) -> None:
    with raw_client(keyed_server.base_url) as raw:
        response = raw.get("/assistants")
    assert _error(response) == {
        "message": MISSING_KEY,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize("header", ["Basic k1", "Bearer", "bearer:k1", "k1"])
def test_malformed_authorization_is_refused(keyed_server: Server, header: str) -> None:
    with raw_client(keyed_server.base_url, {"Authorization": header}) as raw:
        response = raw.post("/assistants", json={"model": "m"})
    assert _error(response)["message"] == MISSING_KEY


def test_wrong_key_is_refused(keyed_server: Server) -> None:
    with raw_client(keyed_server.base_url, {"Authorization": "Bearer sk-wrong-key-123"}) as raw:
        response = raw.get("/threads/thread_x")
    error = _error(response)
    assert error["code"] == "invalid_api_key"
    message = str(error["message"])
    assert message.startswith("Incorrect API key provided: sk-*")
    assert message.endswith("-123.")
    assert "sk-wrong-key-123" not in response.text


def test_refusal_comes_before_routing(keyed_server: Server) -> None:
    with raw_client(keyed_server.base_url) as raw:
        assert raw.get("/nope").status_code == 401


def test_sdk_maps_401_to_authentication_error(keyed_server: Server) -> None:
    with sdk_client(keyed_server.base_url, api_key="nope") as sdk:
        with pytest.raises(openai.AuthenticationError) as info:
            sdk.beta.assistants.list()
        assert info.value.status_code == 401
        assert info.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            sdk.beta.threads.create()


def test_sdk_without_a_key_gets_authentication_error(keyed_server: Server) -> None:
    no_key = {"Authorization": openai.omit}
    with sdk_client(keyed_server.base_url, api_key="unused") as sdk:
        with pytest.raises(openai.AuthenticationError) as info:
            sdk.beta.assistants.list(extra_headers=no_key)
        assert info.value.request.headers.get("Authorization") is None
    assert info.value.body == {
        "message": MISSING_KEY,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize("key", ["k1", "k2"])
def test_each_configured_key_is_accepted(keyed_server: Server, key: str) -> None:
    with sdk_client(keyed_server.base_url, api_key=key) as sdk:
        assistant = sdk.beta.assistants.create(model="gpt-4o")
        assert sdk.beta.assistants.retrieve(assistant.id).id == assistant.id


def test_openai_beta_header_is_optional(keyed_server: Server) -> None:
    with raw_client(keyed_server.base_url, {"Authorization": "Bearer k1"}) as raw:
        without = raw.post("/threads", json={})
        with_v2 = raw.post("/threads", json={}, headers={"OpenAI-Beta": "assistants=v2"})
    assert (without.status_code, with_v2.status_code) == (200, 200)


def test_sdk_sends_the_beta_header(keyed_server: Server) -> None:
    with sdk_client(keyed_server.base_url, api_key="k1") as sdk:
        raw = sdk.beta.threads.with_raw_response.create()
    assert raw.http_request.headers["OpenAI-Beta"] == "assistants=v2"
    assert raw.status_code == 200


def test_open_server_warns_loudly(server: Server) -> None:
    assert OPEN_WARNING in server.stderr()


def test_keyed_server_does_not_warn(keyed_server: Server) -> None:
    assert OPEN_WARNING not in keyed_server.stderr()
