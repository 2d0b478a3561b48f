"""Validation errors read as OpenAI's: the param named, the code OpenAI used."""

from typing import Any

import pytest
from pydantic import ValidationError

from threadline.api.validation import INVALID_JSON_MESSAGE, translate
from threadline.errors import InvalidRequestError
from threadline.protocol.assistants import CreateAssistantRequest
from threadline.protocol.common import ListQuery
from threadline.protocol.messages import CreateMessageRequest


def _error(model: Any, body: object) -> InvalidRequestError:
    validate = model.model_validate_json if isinstance(body, bytes) else model.model_validate
    with pytest.raises(ValidationError) as info:
        validate(body)
    return translate(info.value)


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "model", "missing_required_parameter"),
        ({"model": 1}, "model", "invalid_type"),
        ({"model": "m", "bogus": 1}, "bogus", "unknown_parameter"),
        ({"model": "m", "tools": [{"type": "nope"}]}, "tools[0]", "invalid_value"),
        ({"model": "m", "tools": [{"type": "function"}]}, "tools[0].function", None),
        (
            {"model": "m", "tools": [{"type": "function", "function": {"name": "a b"}}]},
            "tools[0].function.name",
            "invalid_value",
        ),
        (
            {
                "model": "m",
                "tools": [{"type": "file_search", "file_search": {"max_num_results": 51}}],
            },
            "tools[0].file_search.max_num_results",
            "integer_above_max_value",
        ),
        ({"model": "m", "temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"model": "m", "top_p": -1}, "top_p", "decimal_below_min_value"),
        ({"model": "m", "name": "x" * 257}, "name", "string_above_max_length"),
        ({"model": "m", "tools": [{"type": "code_interpreter"}] * 129}, "tools", None),
        (
            {"model": "m", "response_format": {"type": "json_schema", "json_schema": {}}},
            "response_format.json_schema.name",
            "missing_required_parameter",
        ),
        ({"model": "m", "metadata": {"k": 1}}, "metadata.k", "invalid_type"),
    ],
)
def test_assistant_errors_name_the_param(body: object, param: str, code: str | None) -> None:
    error = _error(CreateAssistantRequest, body)
    assert error.param == param
    if code is not None:
        assert error.code == code
    assert error.status_code == 400
    assert error.error_type == "invalid_request_error"


def test_metadata_limits_are_enforced_with_openai_codes() -> None:
    too_many = _error(
        CreateAssistantRequest, {"model": "m", "metadata": {str(i): "" for i in range(17)}}
    )
    assert (too_many.param, too_many.code) == ("metadata", "object_above_max_properties")
    assert "at most 16 properties" in too_many.message
    long_key = _error(CreateAssistantRequest, {"model": "m", "metadata": {"k" * 65: "v"}})
    assert long_key.code == "string_above_max_length"
    long_value = _error(CreateAssistantRequest, {"model": "m", "metadata": {"k": "v" * 513}})
    assert "maximum length 512" in long_value.message


def test_metadata_at_the_limits_is_accepted() -> None:
    metadata = {f"{i:064d}": "v" * 512 for i in range(16)}
    assert CreateAssistantRequest.model_validate({"model": "m", "metadata": metadata}).metadata


def test_messages_name_content_params() -> None:
    assert _error(CreateMessageRequest, {"role": "user", "content": 5}).param == "content"
    part = _error(CreateMessageRequest, {"role": "user", "content": [{"type": "text"}]})
    assert part.message == "Missing required parameter: 'content[0].text'."
    role = _error(CreateMessageRequest, {"role": "system", "content": "x"})
    assert role.message == "Invalid value: 'system'. Supported values are: 'user' and 'assistant'."
    empty = _error(CreateMessageRequest, {"role": "user", "content": ""})
    assert empty.code == "string_below_min_length"


def test_an_empty_content_array_is_named_as_such() -> None:
    error = _error(CreateMessageRequest, {"role": "user", "content": []})
    assert error.param == "content"
    assert error.code == "empty_array"
    assert error.message == (
        "Invalid 'content': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead."
    )


def test_malformed_json_gets_openais_message() -> None:
    error = _error(CreateAssistantRequest, b"{not json")
    assert error.message == INVALID_JSON_MESSAGE
    assert error.param is None


def test_a_body_that_is_not_an_object() -> None:
    error = _error(CreateAssistantRequest, b"[1, 2]")
    assert error.param is None
    assert "expected a JSON object" in error.message


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"order": "up"}, "order"),
    ],
)
def test_list_query_errors(query: dict[str, str], param: str) -> None:
    assert _error(ListQuery, query).param == param


def test_list_query_defaults() -> None:
    query = ListQuery.model_validate({})
    assert (query.limit, query.order, query.after, query.before) == (20, "desc", None, None)
