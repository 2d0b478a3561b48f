"""Errors on the wire: OpenAI's envelope with the right status, type, param and code, never a
500, a traceback or FastAPI's 422 shape. Every response here is also checked against the
spec's ErrorResponse by the client's hook."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.e2e.harness import SDK_DEPRECATED

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

INVALID_JSON = "We could not parse the JSON body of your request."
TOO_MANY_PAIRS = {f"k{i}": "v" for i in range(17)}
LONG_KEY = {"k" * 65: "v"}
LONG_VALUE = {"k": "v" * 513}
LARGEST_METADATA = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` object of an envelope, checked to have exactly OpenAI's four fields."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    return error


def bad_request(response: httpx.Response, param: str | None) -> dict[str, Any]:
    error = error_of(response, 400)
    assert error["param"] == param, error
    return error


@pytest.fixture
def thread_id(http: httpx.Client) -> str:
    response = http.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    found: str = response.json()["id"]
    return found


@pytest.fixture
def message_id(http: httpx.Client, thread_id: str) -> str:
    found: str = http.get(f"/threads/{thread_id}/messages").json()["data"][0]["id"]
    return found


@pytest.fixture
def assistant_id(http: httpx.Client) -> str:
    found: str = http.post("/assistants", json={"model": "gpt-4o"}).json()["id"]
    return found


# Malformed bodies


@pytest.mark.parametrize("body", [b'{"model": ', b"{'model': 'm'}", b"\xff\xfe", b'{"a":1}x'])
def test_malformed_json(http: httpx.Client, body: bytes) -> None:
    response = http.post("/assistants", content=body, headers={"content-type": "application/json"})
    error = bad_request(response, None)
    assert error["message"].startswith(INVALID_JSON)
    assert error["code"] is None


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"[]", "an array"), (b'"x"', "a string"), (b"null", "null"), (b"7", "an integer")],
)
def test_body_that_is_not_an_object(http: httpx.Client, body: bytes, kind: str) -> None:
    error = bad_request(http.post("/assistants", content=body), None)
    assert error["message"] == f"Invalid body: expected a JSON object, but got {kind} instead."


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"model": 1}, "model", "expected a string, but got an integer"),
        ({"model": "m", "temperature": "1"}, "temperature", "expected a number, but got a string"),
        ({"model": "m", "top_p": True}, "top_p", "expected a number, but got a boolean"),
        ({"model": "m", "tools": "x"}, "tools", "expected an array, but got a string"),
        (
            {"model": "m", "metadata": {"k": 1}},
            "metadata.k",
            "expected a string, but got an integer",
        ),
        ({"model": "m", "name": ["x"]}, "name", "expected a string, but got an array"),
    ],
)
def test_wrong_types_name_the_param(
    http: httpx.Client, body: dict[str, Any], param: str, message: str
) -> None:
    error = bad_request(http.post("/assistants", json=body), param)
    assert error["message"] == f"Invalid type for '{param}': {message} instead."
    assert error["code"] == "invalid_type"


def test_wrong_types_in_threads_and_messages(http: httpx.Client, thread_id: str) -> None:
    bad_request(http.post("/threads", json={"messages": "x"}), "messages")
    bad_request(http.post("/threads", json={"metadata": []}), "metadata")
    role = http.post("/threads", json={"messages": [{"role": "system", "content": "x"}]})
    assert bad_request(role, "messages[0].role")["message"] == (
        "Invalid value: 'system'. Supported values are: 'user' and 'assistant'."
    )
    content = http.post(f"/threads/{thread_id}/messages", json={"role": "user", "content": 5})
    bad_request(content, "content")


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/assistants", {}, "model"),
        ("/assistants", {"name": "x"}, "model"),
        ("/threads/{thread}/messages", {"role": "user"}, "content"),
        ("/threads/{thread}/messages", {"content": "x"}, "role"),
        ("/threads", {"messages": [{"role": "user"}]}, "messages[0].content"),
    ],
)
def test_missing_required_param(
    http: httpx.Client, thread_id: str, path: str, body: dict[str, Any], param: str
) -> None:
    error = bad_request(http.post(path.format(thread=thread_id), json=body), param)
    assert error["message"] == f"Missing required parameter: '{param}'."
    assert error["code"] == "missing_required_parameter"


def test_empty_body_counts_as_an_empty_object(http: httpx.Client) -> None:
    bad_request(http.post("/assistants", content=b""), "model")
    assert http.post("/threads", content=b"").status_code == 200


BODIES: dict[str, dict[str, Any]] = {
    "/assistants": {"model": "m"},
    "/threads/{thread}/messages": {"role": "user", "content": "x"},
}


@pytest.mark.parametrize(
    "path",
    [
        "/assistants",
        "/assistants/{assistant}",
        "/threads",
        "/threads/{thread}",
        "/threads/{thread}/messages",
        "/threads/{thread}/messages/{message}",
    ],
)
def test_unknown_param(
    http: httpx.Client, assistant_id: str, thread_id: str, message_id: str, path: str
) -> None:
    body = BODIES.get(path, {})
    url = path.format(assistant=assistant_id, thread=thread_id, message=message_id)
    error = bad_request(http.post(url, json={**body, "bogus": 1}), "bogus")
    assert error["message"] == "Unrecognized request argument supplied: bogus"
    assert error["code"] == "unknown_parameter"


# Metadata and size limits

METADATA_PATHS = [
    ("/assistants", {"model": "m"}),
    ("/assistants/{assistant}", {}),
    ("/threads", {}),
    ("/threads/{thread}", {}),
    ("/threads/{thread}/messages", {"role": "user", "content": "x"}),
    ("/threads/{thread}/messages/{message}", {}),
]


@pytest.mark.parametrize(("path", "body"), METADATA_PATHS)
@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        (TOO_MANY_PAIRS, "object_above_max_properties"),
        (LONG_KEY, "string_above_max_length"),
        (LONG_VALUE, "string_above_max_length"),
    ],
    ids=["17-pairs", "65-char-key", "513-char-value"],
)
def test_oversize_metadata(
    http: httpx.Client,
    assistant_id: str,
    thread_id: str,
    message_id: str,
    path: str,
    body: dict[str, Any],
    metadata: dict[str, str],
    code: str,
) -> None:
    url = path.format(assistant=assistant_id, thread=thread_id, message=message_id)
    error = error_of(http.post(url, json={**body, "metadata": metadata}), 400)
    assert error["param"] == "metadata"
    assert error["code"] == code
    assert error["message"].startswith("Invalid 'metadata")


@pytest.mark.parametrize(("path", "body"), METADATA_PATHS)
def test_largest_allowed_metadata(
    http: httpx.Client,
    assistant_id: str,
    thread_id: str,
    message_id: str,
    path: str,
    body: dict[str, Any],
) -> None:
    url = path.format(assistant=assistant_id, thread=thread_id, message=message_id)
    response = http.post(url, json={**body, "metadata": LARGEST_METADATA})
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == LARGEST_METADATA


def test_too_many_tools(http: httpx.Client) -> None:
    tools = [{"type": "code_interpreter"}] * 129
    error = bad_request(http.post("/assistants", json={"model": "m", "tools": tools}), "tools")
    assert error["message"] == (
        "Invalid 'tools': array too long. Expected an array with maximum length 128, "
        "but got an array with length 129 instead."
    )
    assert error["code"] == "array_above_max_length"
    allowed = http.post("/assistants", json={"model": "m", "tools": tools[:128]})
    assert allowed.status_code == 200
    assert len(allowed.json()["tools"]) == 128


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "nope"}, "tools[0]"),
        ({"type": "function"}, "tools[0].function"),
        ({"type": "function", "function": {"name": "has space"}}, "tools[0].function.name"),
        ({"name": "x"}, "tools[0].type"),
    ],
)
def test_bad_tools(http: httpx.Client, tool: dict[str, Any], param: str) -> None:
    bad_request(http.post("/assistants", json={"model": "m", "tools": [tool]}), param)


def test_bad_tool_type_lists_the_supported_ones(http: httpx.Client) -> None:
    response = http.post("/assistants", json={"model": "m", "tools": [{"type": "nope"}]})
    assert error_of(response, 400)["message"] == (
        "Invalid value: 'nope'. Supported values are: 'code_interpreter', 'file_search', "
        "and 'function'."
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"name": "n" * 257}, "name"),
        ({"description": "d" * 513}, "description"),
        ({"response_format": "json"}, "response_format"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        (
            {"tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}},
            "tool_resources.file_search.vector_store_ids",
        ),
        (
            {
                "tool_resources": {
                    "file_search": {"vector_store_ids": ["vs_a"], "vector_stores": [{}]}
                }
            },
            "tool_resources.file_search",
        ),
    ],
)
def test_out_of_range_assistant_fields(
    http: httpx.Client, body: dict[str, Any], param: str
) -> None:
    bad_request(http.post("/assistants", json={"model": "m", **body}), param)


# List parameters

LIST_PATHS = ["/assistants", "/threads/{thread}/messages"]


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"order": "up"}, "order"),
    ],
)
def test_bad_list_params(
    http: httpx.Client, thread_id: str, path: str, query: dict[str, str], param: str
) -> None:
    bad_request(http.get(path.format(thread=thread_id), params=query), param)


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize("cursor", ["after", "before"])
def test_unknown_cursor(http: httpx.Client, thread_id: str, path: str, cursor: str) -> None:
    response = http.get(path.format(thread=thread_id), params={cursor: "asst_nope"})
    error = bad_request(response, cursor)
    assert error["message"] == (
        f"Invalid '{cursor}': no object with id 'asst_nope' was found in this list."
    )
    assert error["code"] == "invalid_value"


def test_cursor_from_another_thread_is_unknown(http: httpx.Client, message_id: str) -> None:
    other = http.post("/threads", json={}).json()["id"]
    response = http.get(f"/threads/{other}/messages", params={"after": message_id})
    bad_request(response, "after")


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_bounds_are_allowed(http: httpx.Client, limit: str) -> None:
    assert http.get("/assistants", params={"limit": limit}).status_code == 200


# Unknown objects, routes and methods


def _missing(kind: str, object_id: str) -> str:
    return f"No {kind} found with id '{object_id}'."


NOT_FOUND: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/assistants/asst_x", None, _missing("assistant", "asst_x")),
    ("POST", "/assistants/asst_x", {"name": "n"}, _missing("assistant", "asst_x")),
    ("DELETE", "/assistants/asst_x", None, _missing("assistant", "asst_x")),
    ("GET", "/threads/thread_x", None, _missing("thread", "thread_x")),
    ("POST", "/threads/thread_x", {"metadata": {}}, _missing("thread", "thread_x")),
    ("DELETE", "/threads/thread_x", None, _missing("thread", "thread_x")),
    ("GET", "/threads/thread_x/messages", None, _missing("thread", "thread_x")),
    (
        "POST",
        "/threads/thread_x/messages",
        {"role": "user", "content": "x"},
        _missing("thread", "thread_x"),
    ),
    ("GET", "/threads/thread_x/messages/msg_x", None, _missing("thread", "thread_x")),
    ("GET", "/threads/{thread}/messages/msg_x", None, _missing("message", "msg_x")),
    ("POST", "/threads/{thread}/messages/msg_x", {"metadata": {}}, _missing("message", "msg_x")),
    ("DELETE", "/threads/{thread}/messages/msg_x", None, _missing("message", "msg_x")),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), NOT_FOUND)
def test_unknown_ids(
    http: httpx.Client,
    thread_id: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    message: str,
) -> None:
    response = http.request(method, path.format(thread=thread_id), json=body)
    assert error_of(response, 404) == {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("POST", "/assistants/asst_x/nope"), ("GET", "/threads/t/messages/m/x")],
)
def test_unknown_route(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path)
    assert error_of(response, 404) == {
        "message": f"Invalid URL ({method} /v1{path})",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_unknown_route_outside_the_api(base_url: str) -> None:
    root = base_url.removesuffix("/v1")
    with httpx.Client(base_url=root) as raw:
        response = raw.get("/v2/assistants")
    assert error_of(response, 404)["message"] == "Invalid URL (GET /v2/assistants)"


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/assistants"), ("PATCH", "/assistants/asst_x"), ("GET", "/threads")],
)
def test_wrong_method(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path)
    assert error_of(response, 405)["message"] == f"Invalid URL ({method} /v1{path})"


# Whatever is sent, the answer is an envelope: never 500, never FastAPI's 422

ODD_REQUESTS: list[tuple[str, str, bytes]] = [
    ("POST", "/assistants", b'{"model": "m", "tools": [null]}'),
    ("POST", "/assistants", b'{"model": "m", "metadata": null, "tools": null}'),
    ("POST", "/assistants", b'{"model": "m", "temperature": 1e400}'),
    ("POST", "/assistants", b'{"model": "m", "response_format": {"type": "json_schema"}}'),
    ("POST", "/assistants", b'{"model": "m", "tools": [{"type": "function", "function": 1}]}'),
    ("POST", "/assistants", b'{"model": "\\ud800"}'),
    ("POST", "/assistants", b'{"model": "m", "tool_resources": {"code_interpreter": 1}}'),
    ("POST", "/threads", b'{"messages": [{"role": "user", "content": []}]}'),
    ("POST", "/threads", b'{"messages": [{"role": "user", "content": [{"type": "text"}]}]}'),
    ("POST", "/threads", b'{"messages": [{"role": "user", "content": [{"type": "refusal"}]}]}'),
    ("POST", "/threads", b'{"messages": [null]}'),
    ("POST", "/threads", b'{"messages": [{"role": "user", "content": "x", "attachments": 1}]}'),
    ("POST", "/threads", b'{"tool_resources": {"file_search": {"vector_stores": 1}}}'),
    ("GET", "/assistants?limit=99999999999999999999999999", b""),
    ("GET", "/assistants?order=&after=&before=", b""),
    ("GET", "/assistants/asst_%00", b""),
    ("GET", "/threads/%F0%9F%98%80", b""),
    ("DELETE", "/threads/" + "t" * 5000, b""),
]


@pytest.mark.parametrize(("method", "path", "body"), ODD_REQUESTS)
def test_odd_requests_get_an_envelope(
    http: httpx.Client, method: str, path: str, body: bytes
) -> None:
    response = http.request(method, path, content=body)
    assert response.status_code in (400, 404), response.text
    assert "detail" not in response.json()
    assert "Traceback" not in response.text


# The SDK maps each status to its exception


def test_sdk_raises_bad_request_with_param(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.assistants.create(model="gpt-4o", extra_body={"bogus": 1})
    assert info.value.status_code == 400
    assert (info.value.param, info.value.code) == ("bogus", "unknown_parameter")
    assert info.value.type == "invalid_request_error"


def test_sdk_raises_bad_request_for_list_params(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.assistants.list(limit=0)
    assert info.value.param == "limit"
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.assistants.list(after="asst_nope")
    assert info.value.param == "after"


def test_sdk_raises_bad_request_for_oversize_metadata(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.threads.update(thread.id, metadata=TOO_MANY_PAIRS)
    assert info.value.param == "metadata"


def test_sdk_raises_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.threads.messages.retrieve("msg_x", thread_id="thread_x")
    assert info.value.status_code == 404
    assert info.value.body == {
        "message": _missing("thread", "thread_x"),
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
