"""Responses checked against the official OpenAPI spec of the Assistants API.

`validate_response` finds the spec operation for a request path, takes the schema of the
documented response (OpenAI's `ErrorResponse` for every 4xx/5xx) and validates the body with
JSON Schema 2020-12, `#/components/schemas/...` references resolved in the whole spec.
`response_validator_hook()` and `async_response_validator_hook()` make an HTTP client check
every response it receives (both `httpx` and the SDK's `httpx2` clients take them).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "ERROR_SCHEMA",
    "async_response_validator_hook",
    "documented_media_types",
    "find_path_template",
    "is_download",
    "load_spec",
    "parse_sse",
    "response_validator_hook",
    "spec_path",
    "validate_response",
    "validate_stream_event",
]

SPEC_URI = "urn:openai:openapi"
ERROR_SCHEMA = "#/components/schemas/ErrorResponse"
_JSON_SCHEMA = "/content/application~1json/schema"
_API_PREFIX = "/v1"


def _spec_candidates() -> list[Path]:
    here = Path(__file__).resolve().parent
    named = os.environ.get("THREADLINE_OPENAPI_SPEC")
    found = [Path(named)] if named else []
    shared = Path("shared", "openapi", "openapi.yaml")
    return [*found, here / "spec" / "openapi.yaml", here.parent / shared, here.parents[1] / shared]


def spec_path() -> Path:
    """The spec file: `$THREADLINE_OPENAPI_SPEC`, else `tests/spec/openapi.yaml`, else
    `shared/openapi/openapi.yaml` in or beside the checkout."""
    candidates = _spec_candidates()
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"OpenAPI spec not found (tried {tried}); set THREADLINE_OPENAPI_SPEC")


def _is_null_marker(schema: object) -> bool:
    return isinstance(schema, dict) and schema.get("nullable") is True and len(schema) == 1


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable: true`, which the spec still uses in places (RunObject), as
    JSON Schema: `{"anyOf": [<schema>, {"type": "null"}]}`. Also for the spec's
    `allOf: [<ref>, {nullable: true}]` idiom."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    parts = schema.get("allOf")
    if isinstance(parts, list) and any(_is_null_marker(part) for part in parts):
        schema["allOf"] = [part for part in parts if not _is_null_marker(part)]
        schema["nullable"] = True
    converted = {key: _nullable(value) for key, value in schema.items()}
    if converted.pop("nullable", None) is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed spec, read once per process (the C loader takes ~1 s for 3 MB), with
    `nullable` turned into JSON Schema."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path().open("rb") as file:
        spec: dict[str, Any] = _nullable(yaml.load(file, Loader=loader))
    return spec


@functools.cache
def _registry() -> Registry[Any]:
    resource = DRAFT202012.create_resource(load_spec())
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return registry


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    reference = SPEC_URI + quote(pointer, safe="#/~")
    return Draft202012Validator({"$ref": reference}, registry=_registry())


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.strip("/").split("/"))


def _rank(template: tuple[str, ...], segments: tuple[str, ...]) -> tuple[int, ...] | None:
    """Per segment 1 for a literal match, 0 for a `{param}`; None when it does not match."""
    if len(template) != len(segments):
        return None
    rank: list[int] = []
    for part, segment in zip(template, segments, strict=True):
        if part.startswith("{") and part.endswith("}") and segment:
            rank.append(0)
        elif part == segment:
            rank.append(1)
        else:
            return None
    return tuple(rank)


def find_path_template(url_path: str) -> str | None:
    """The spec path a request path falls under, literal segments preferred to templates
    (`/threads/runs` over `/threads/{thread_id}`)."""
    segments = _segments(url_path.removeprefix(_API_PREFIX))
    ranked = [
        (rank, template)
        for template in load_spec()["paths"]
        if (rank := _rank(_segments(template), segments)) is not None
    ]
    return max(ranked)[1] if ranked else None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _lookup(pointer: str) -> Any:
    """The part of the spec a local `#/a/b` pointer names."""
    node: Any = load_spec()
    for token in pointer.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _documented_response(method: str, url_path: str, status_code: int) -> tuple[str, Any]:
    """A pointer to the spec's response object for this request and status, and the
    object itself (a `$ref` followed)."""
    template = find_path_template(url_path)
    if template is None:
        raise AssertionError(f"{method} {url_path}: no path of the spec matches")
    operation = load_spec()["paths"][template].get(method.lower())
    if not isinstance(operation, dict):
        raise AssertionError(f"{method} {url_path}: the spec has no {method} on {template}")
    response = operation["responses"].get(str(status_code))
    if response is None:
        raise AssertionError(
            f"{method} {url_path}: status {status_code} is not a documented response of "
            f"{method} {template} (documented: {', '.join(operation['responses'])})"
        )
    if "$ref" in response:
        return str(response["$ref"]), _lookup(response["$ref"])
    return f"#/paths/{_escape(template)}/{method.lower()}/responses/{status_code}", response


def _success_pointer(method: str, url_path: str, status_code: int) -> str:
    pointer, response = _documented_response(method, url_path, status_code)
    if "application/json" not in response.get("content", {}):
        raise AssertionError(f"{method} {url_path} -> {status_code} is not a JSON response")
    return pointer + _JSON_SCHEMA


def documented_media_types(method: str, url_path: str, status_code: int) -> frozenset[str]:
    """The content types the spec gives for this response (empty when it has none)."""
    try:
        _, response = _documented_response(method.upper(), url_path, status_code)
    except AssertionError:
        return frozenset()
    return frozenset(response.get("content", {}))


def _describe(where: str, pointer: str, body: object, errors: list[ValidationError]) -> str:
    worst = best_match(errors)
    shown = json.dumps(body)
    if len(shown) > 2000:
        shown = shown[:2000] + "..."
    return (
        f"{where}: response does not match {pointer}\n"
        f"  at {worst.json_path}: {worst.message}\n"
        f"  ({len(errors)} error(s) in all) body: {shown}"
    )


def validate_response(method: str, url_path: str, status_code: int, body_json: object) -> None:
    """Raise AssertionError unless `body_json` is what the spec documents for this response."""
    if status_code >= 400:
        pointer = ERROR_SCHEMA
    else:
        pointer = _success_pointer(method.upper(), url_path, status_code)
    errors = list(_validator(pointer).iter_errors(body_json))
    if errors:
        where = f"{method.upper()} {url_path} -> {status_code}"
        raise AssertionError(_describe(where, pointer, body_json, errors))


STREAM_EVENT_SCHEMA = "#/components/schemas/AssistantStreamEvent"


def validate_stream_event(event: str, data: object) -> None:
    """Raise AssertionError unless `event: <event>` with `data` is one of the spec's
    `AssistantStreamEvent`s (`done` carries the string `[DONE]`)."""
    body = {"event": event, "data": data}
    errors = list(_validator(STREAM_EVENT_SCHEMA).iter_errors(body))
    if errors:
        raise AssertionError(_describe(f"event {event}", STREAM_EVENT_SCHEMA, body, errors))


def parse_sse(raw: str) -> list[tuple[str, str]]:
    """`(event, data)` per frame of a server-sent event stream; comments are skipped and
    a frame must be exactly one `event:` line and one `data:` line."""
    frames = []
    for block in raw.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        assert len(lines) == 2, f"malformed frame: {block!r}"
        assert lines[0].startswith("event: "), f"no event line: {block!r}"
        assert lines[1].startswith("data: "), f"no data line: {block!r}"
        frames.append((lines[0][len("event: ") :], lines[1][len("data: ") :]))
    return frames


# The hooks take responses of `httpx` and of `httpx2` (which the openai SDK uses) alike.


class _URL(Protocol):
    @property
    def path(self) -> str: ...


class _Request(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def url(self) -> _URL: ...


class _Response(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def request(self) -> _Request: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class _SyncResponse(_Response, Protocol):
    def read(self) -> bytes: ...


class _AsyncResponse(_Response, Protocol):
    async def aread(self) -> bytes: ...


def _media_type(response: _Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip()


def _is_json(response: _Response) -> bool:
    media_type = _media_type(response)
    return media_type == "application/json" or media_type.endswith("+json")


def is_download(method: str, url_path: str, status_code: int) -> bool:
    """True where the spec's only body is a JSON `string`: its way of writing a download
    of raw bytes (`GET /files/{file_id}/content`), sent with the file's own media type."""
    try:
        _, response = _documented_response(method.upper(), url_path, status_code)
    except AssertionError:
        return False
    content = response.get("content", {})
    return set(content) == {"application/json"} and content["application/json"].get("schema") == {
        "type": "string"
    }


def _needs_body(response: _Response) -> bool:
    """JSON responses are checked. Errors must be JSON. Event streams pass untouched (the
    spec documents Assistants streams only as `stream: true` on JSON operations), and so
    do downloads; other bodies pass where the spec documents more than JSON."""
    request, status = response.request, response.status_code
    if status < 400 and is_download(request.method, request.url.path, status):
        return False
    if _is_json(response):
        return True
    where = f"{request.method} {request.url.path} -> {status}"
    content_type = response.headers.get("content-type")
    if status >= 400:
        raise AssertionError(f"{where}: an error response must be JSON, not {content_type}")
    if _media_type(response) == "text/event-stream":
        return False
    if documented_media_types(request.method, request.url.path, status) == {"application/json"}:
        raise AssertionError(f"{where}: the spec documents JSON here, not {content_type}")
    return False


def _check(response: _Response) -> None:
    request = response.request
    where = f"{request.method} {request.url.path} -> {response.status_code}"
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{where}: the body is not JSON: {response.content[:200]!r}") from exc
    validate_response(request.method, request.url.path, response.status_code, body)


def response_validator_hook() -> Callable[[_SyncResponse], None]:
    """An `event_hooks={"response": [...]}` entry for a synchronous client."""

    def hook(response: _SyncResponse) -> None:
        if _needs_body(response):
            response.read()
            _check(response)

    return hook


def async_response_validator_hook() -> Callable[[_AsyncResponse], Awaitable[None]]:
    """An `event_hooks={"response": [...]}` entry for an asynchronous client."""

    async def hook(response: _AsyncResponse) -> None:
        if _needs_body(response):
            await response.aread()
            _check(response)

    return hook
