"""The OpenAPI response validator rejects what the spec does not allow, and its hooks check
every JSON response a client receives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest

from tests.e2e.harness import SDK_DEPRECATED, async_sdk_client, sdk_client
from tests.openapi_check import (
    async_response_validator_hook,
    documented_media_types,
    find_path_template,
    is_download,
    response_validator_hook,
    validate_response,
)

ASSISTANT: dict[str, Any] = {
    "id": "asst_abc",
    "object": "assistant",
    "created_at": 1700000000,
    "name": None,
    "description": None,
    "model": "gpt-4o",
    "instructions": None,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}, "strict": True}}],
    "tool_resources": {},
    "metadata": {},
    "temperature": 1.0,
    "top_p": 1.0,
    "response_format": "auto",
}
ERROR = {"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": None}}
EMPTY_LIST = {"object": "list", "data": [], "first_id": "", "last_id": "", "has_more": False}


def _rejected(method: str, path: str, status: int, body: object) -> str:
    with pytest.raises(AssertionError) as info:
        validate_response(method, path, status, body)
    return str(info.value)


# Finding the operation


@pytest.mark.parametrize(
    ("url_path", "template"),
    [
        ("/v1/assistants", "/assistants"),
        ("/v1/assistants/asst_1", "/assistants/{assistant_id}"),
        ("/v1/threads/runs", "/threads/runs"),
        ("/v1/threads/thread_1", "/threads/{thread_id}"),
        ("/v1/threads/t/messages/m", "/threads/{thread_id}/messages/{message_id}"),
        ("/v1/threads/t/runs/r/cancel", "/threads/{thread_id}/runs/{run_id}/cancel"),
        ("/threads/t/messages", "/threads/{thread_id}/messages"),
        ("/v1/nope", None),
        ("/v1/assistants/a/b/c/d", None),
    ],
)
def test_find_path_template(url_path: str, template: str | None) -> None:
    assert find_path_template(url_path) == template


# Success bodies


def test_valid_bodies_pass() -> None:
    validate_response("GET", "/v1/assistants/asst_abc", 200, ASSISTANT)
    validate_response("post", "/v1/assistants", 200, ASSISTANT)
    page = {**EMPTY_LIST, "data": [ASSISTANT], "first_id": "asst_abc", "last_id": "asst_abc"}
    validate_response("GET", "/v1/assistants", 200, page)
    validate_response("GET", "/v1/threads/t/messages", 200, EMPTY_LIST)
    deleted = {"id": "asst_abc", "object": "assistant.deleted", "deleted": True}
    validate_response("DELETE", "/v1/assistants/asst_abc", 200, deleted)


@pytest.mark.parametrize("field", ["id", "model", "tools", "created_at"])
def test_missing_required_field_is_rejected(field: str) -> None:
    body = {k: v for k, v in ASSISTANT.items() if k != field}
    message = _rejected("GET", "/v1/assistants/asst_abc", 200, body)
    assert f"'{field}' is a required property" in message
    assert "GET /v1/assistants/asst_abc -> 200" in message


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("created_at", "yesterday", "$.created_at"),
        ("name", 5, "$.name"),
        ("metadata", {"k": 1}, "$.metadata"),
        ("object", "thread", "$.object"),
        ("temperature", "hot", "$.temperature"),
    ],
)
def test_wrong_type_is_rejected(field: str, value: object, where: str) -> None:
    message = _rejected("GET", "/v1/assistants/asst_abc", 200, {**ASSISTANT, field: value})
    assert f"at {where}" in message


def test_nested_errors_are_located() -> None:
    body = {**ASSISTANT, "tools": [{"type": "code_interpreter"}, {"type": "nope"}]}
    assert "at $.tools[1]" in _rejected("GET", "/v1/assistants/a", 200, body)
    page = {**EMPTY_LIST, "data": [{**ASSISTANT, "model": None}]}
    assert "at $.data[0].model" in _rejected("GET", "/v1/assistants", 200, page)


def test_list_with_null_cursor_ids_is_rejected() -> None:
    body = {**EMPTY_LIST, "first_id": None}
    assert "at $.first_id" in _rejected("GET", "/v1/assistants", 200, body)


def test_undocumented_status_or_route_is_rejected() -> None:
    assert "201 is not a documented" in _rejected("POST", "/v1/assistants", 201, ASSISTANT)
    assert "no path of the spec" in _rejected("GET", "/v1/nope", 200, {})
    assert "has no PUT" in _rejected("PUT", "/v1/assistants", 200, {})


# Error bodies


@pytest.mark.parametrize("status", [400, 401, 404, 405, 409, 429, 500, 503])
def test_error_envelope_passes_for_any_error_status(status: int) -> None:
    validate_response("GET", "/v1/anything/at/all", status, ERROR)


@pytest.mark.parametrize(
    "body",
    [
        {"detail": [{"loc": ["body", "model"], "msg": "field required"}]},
        {"error": {"message": "m", "type": "t", "code": None}},
        {"error": {"message": 1, "type": "t", "param": None, "code": None}},
        {"error": "Not found"},
        "Internal Server Error",
    ],
    ids=["fastapi-422", "no-param", "int-message", "string-error", "plain-text"],
)
def test_non_envelope_errors_are_rejected(body: object) -> None:
    assert "ErrorResponse" in _rejected("POST", "/v1/assistants", 422, body)


# Hooks


Handler = Callable[[httpx.Request], httpx.Response]


def _transport_handler(status: int, content: bytes, content_type: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    return handler


def _sync_client(
    status: int, content: bytes, content_type: str = "application/json"
) -> httpx.Client:
    transport = httpx.MockTransport(_transport_handler(status, content, content_type))
    hooks = {"response": [response_validator_hook()]}
    return httpx.Client(transport=transport, event_hooks=hooks, base_url="http://test/v1")


def test_sync_hook_passes_valid_responses() -> None:
    with _sync_client(404, b'{"error":{"message":"m","type":"t","param":null,"code":null}}') as c:
        assert c.get("/assistants/x").status_code == 404


def test_sync_hook_rejects_invalid_responses() -> None:
    with _sync_client(200, b'{"id": "asst_1"}') as c, pytest.raises(AssertionError) as info:
        c.get("/assistants/asst_1")
    assert "'object' is a required property" in str(info.value)


def test_sync_hook_rejects_bodies_that_are_not_json() -> None:
    with _sync_client(200, b"{oops") as c, pytest.raises(AssertionError, match="not JSON"):
        c.get("/assistants/asst_1")


def test_sync_hook_rejects_error_responses_that_are_not_json() -> None:
    with (
        _sync_client(500, b"Internal Server Error", "text/plain") as c,
        pytest.raises(AssertionError, match="must be JSON"),
    ):
        c.get("/assistants")


def test_sync_hook_leaves_event_streams_alone() -> None:
    with _sync_client(200, b"event: done\ndata: [DONE]\n\n", "text/event-stream") as c:
        assert c.post("/threads/t/runs").text.startswith("event: done")


def test_sync_hook_rejects_other_bodies_where_the_spec_says_json() -> None:
    with (
        _sync_client(200, b"ok", "text/plain") as c,
        pytest.raises(AssertionError, match="documents JSON here"),
    ):
        c.get("/assistants")


def test_downloads_pass_with_any_media_type() -> None:
    for content_type in ("text/plain", "application/octet-stream", "application/json"):
        with _sync_client(200, b"{not json", content_type) as c:
            assert c.get("/files/file-abc/content").content == b"{not json"


def test_download_errors_are_still_checked() -> None:
    with (
        _sync_client(404, b"Not Found", "text/plain") as c,
        pytest.raises(AssertionError, match="must be JSON"),
    ):
        c.get("/files/file-abc/content")


def test_is_download() -> None:
    assert is_download("GET", "/v1/files/file-abc/content", 200)
    assert not is_download("GET", "/v1/files/file-abc", 200)
    assert not is_download("GET", "/v1/nope", 200)


def test_documented_media_types() -> None:
    assert documented_media_types("GET", "/v1/assistants", 200) == {"application/json"}
    assert "text/event-stream" in documented_media_types("POST", "/v1/chat/completions", 200)
    assert "application/zip" in documented_media_types("GET", "/v1/skills/s/content", 200)
    assert documented_media_types("GET", "/v1/nope", 200) == frozenset()


async def test_async_hook_checks_responses() -> None:
    transport = httpx.MockTransport(_transport_handler(200, b"{}", "application/json"))
    hooks = {"response": [async_response_validator_hook()]}
    async with httpx.AsyncClient(transport=transport, event_hooks=hooks) as c:
        with pytest.raises(AssertionError, match="required property"):
            await c.get("http://test/v1/threads/thread_1")


def _bad_assistant_transport(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json={**ASSISTANT, "created_at": "now"})


@SDK_DEPRECATED
def test_e2e_sdk_client_fails_when_the_server_breaks_the_spec() -> None:
    transport = httpx2.MockTransport(_bad_assistant_transport)
    with (
        sdk_client("http://test/v1", transport=transport) as sdk,
        pytest.raises(AssertionError, match=r"at \$\.created_at"),
    ):
        sdk.beta.assistants.retrieve("asst_abc")


@SDK_DEPRECATED
async def test_e2e_async_sdk_client_fails_when_the_server_breaks_the_spec() -> None:
    transport = httpx2.MockTransport(_bad_assistant_transport)
    async with async_sdk_client("http://test/v1", transport=transport) as sdk:
        with pytest.raises(AssertionError, match=r"at \$\.created_at"):
            await sdk.beta.assistants.retrieve("asst_abc")
