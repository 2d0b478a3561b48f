"""Pydantic validation errors in OpenAI's words: `param` named, `code` as OpenAI gave it."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from threadline.errors import InvalidRequestError
from threadline.protocol.common import CUSTOM_ERROR_TYPES

__all__ = ["INVALID_JSON_MESSAGE", "translate"]

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Segments pydantic adds to a location for union members; they are not field names.
_TYPE_MARKERS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})
# Discriminator values; pydantic puts them in the location after a union or list index.
_TAGS = frozenset(
    {
        "auto",
        "code_interpreter",
        "file_search",
        "function",
        "image_file",
        "image_url",
        "json_object",
        "json_schema",
        "refusal",
        "static",
        "text",
    }
)

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _param(loc: tuple[int | str, ...]) -> str | None:
    parts: list[str] = []
    after_marker = False
    for segment in loc:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
            after_marker = True
            continue
        if not _IDENTIFIER.match(segment) or segment in _TYPE_MARKERS:
            after_marker = True
            continue
        if after_marker and segment in _TAGS:
            after_marker = False
            continue
        parts.append(("." if parts else "") + segment)
        after_marker = False
    return "".join(parts) or None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quoted_list(values: list[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _literal_values(error: ErrorDetails) -> list[str]:
    ctx = error.get("ctx") or {}
    raw = str(ctx.get("expected") or ctx.get("expected_tags") or "")
    return re.findall(r"'([^']*)'", raw)


def _bound_message(error: ErrorDetails, param: str, above: bool) -> tuple[str, str]:
    ctx = error.get("ctx") or {}
    bound = next(iter(ctx.values()), "")
    number = "integer" if isinstance(bound, int) else "decimal"
    if isinstance(bound, float):
        bound = f"{bound:g}"
    word, sign = ("above maximum", "<=") if above else ("below minimum", ">=")
    if error["type"] in ("less_than", "greater_than"):
        sign = sign[0]
    message = (
        f"Invalid '{param}': {number} {word} value. "
        f"Expected a value {sign} {bound}, but got {error['input']} instead."
    )
    return message, f"{number}_{word.split()[0]}_{word.split()[1][:3]}_value"


def _length_message(error: ErrorDetails, param: str) -> tuple[str, str]:
    ctx = error.get("ctx") or {}
    value = error["input"]
    noun = "string" if isinstance(value, str) else "array"
    if error["type"].endswith("too_long"):
        limit, word, code = ctx.get("max_length"), "long", "above_max_length"
        bound = f"maximum length {limit}"
    else:
        limit, word, code = ctx.get("min_length"), "short", "below_min_length"
        bound = f"minimum length {limit}"
    article = "an" if noun == "array" else "a"
    if noun == "array" and not value:
        message = (
            f"Invalid '{param}': empty array. Expected an array with {bound}, "
            "but got an empty array instead."
        )
        return message, "empty_array"
    got = f"{article} {noun} with length {len(value)}"
    if noun == "string" and not value:
        got = "an empty string"
    message = (
        f"Invalid '{param}': {noun} too {word}. Expected {article} {noun} with {bound}, "
        f"but got {got} instead."
    )
    return message, f"{noun}_{code}"


def _describe(error: ErrorDetails, param: str) -> tuple[str, str | None]:
    kind = error["type"]
    if kind in ("missing", "union_tag_not_found"):
        return f"Missing required parameter: '{param}'.", "missing_required_parameter"
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", "unknown_parameter"
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        got = _kind(error["input"])
        return f"Invalid type for '{param}': expected {expected}, but got {got} instead.", (
            "invalid_type"
        )
    if kind in ("literal_error", "enum", "union_tag_invalid"):
        supported = _quoted_list(_literal_values(error))
        value = error["input"]
        if kind == "union_tag_invalid":
            value = (error.get("ctx") or {}).get("tag", value)
        return f"Invalid value: '{value}'. Supported values are: {supported}.", "invalid_value"
    if kind in ("less_than_equal", "less_than"):
        return _bound_message(error, param, above=True)
    if kind in ("greater_than_equal", "greater_than"):
        return _bound_message(error, param, above=False)
    if kind in ("string_too_long", "string_too_short", "too_long", "too_short"):
        return _length_message(error, param)
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return (
            f"Invalid '{param}': string does not match pattern. "
            f"Expected a string that matches the pattern '{pattern}'."
        ), "invalid_value"
    return f"Invalid '{param}': {error['msg'][0].lower()}{error['msg'][1:]}.", "invalid_value"


def translate(exc: ValidationError) -> InvalidRequestError:
    """The first validation error as OpenAI's 400 `invalid_request_error`."""
    errors = exc.errors(include_url=False)
    # With unions pydantic reports one error per member; the deepest is the most specific,
    # and of equally deep ones, a member whose type matched (a too-short array, say) says
    # more than the members whose type did not.
    error = max(errors, key=lambda e: (len(e["loc"]), e["type"] not in _EXPECTED))
    if error["type"] == "json_invalid":
        return InvalidRequestError(INVALID_JSON_MESSAGE)
    param = _param(error["loc"])
    if param is None:
        if error["type"] in _EXPECTED:
            got = _kind(error["input"])
            message = f"Invalid body: expected a JSON object, but got {got} instead."
            return InvalidRequestError(message, code="invalid_type")
        return InvalidRequestError(f"Invalid request: {error['msg']}.")
    if error["type"] == "union_tag_not_found":  # the tag itself is what is missing
        param = f"{param}.type"
    if error["type"] in CUSTOM_ERROR_TYPES:
        return InvalidRequestError(error["msg"], param=param, code=error["type"])
    message, code = _describe(error, param)
    return InvalidRequestError(message, param=param, code=code)
