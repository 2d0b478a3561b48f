"""Wire pieces shared by every resource: metadata, list queries and pages, deletions."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SerializationInfo
from pydantic_core import PydanticCustomError

__all__ = [
    "CUSTOM_ERROR_TYPES",
    "DeletedObject",
    "ListPage",
    "ListQuery",
    "Metadata",
    "Omittable",
    "RequestModel",
    "WireModel",
    "on_the_wire",
    "wire_json",
]

T = TypeVar("T")

# Error types raised with PydanticCustomError: their messages are already OpenAI's words.
CUSTOM_ERROR_TYPES = frozenset({"object_above_max_properties", "string_above_max_length"})

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


def _is_none(value: object) -> bool:
    return value is None


# An optional field that is left out of the JSON when unset (the spec's optional,
# non-nullable properties), as opposed to `X | None` fields which are written as null.
Omittable = Annotated[T | None, Field(exclude_if=_is_none)]


class WireModel(BaseModel):
    """Base of every object Threadline sends: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class RequestModel(BaseModel):
    """Base of request bodies: JSON types are checked strictly, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, serialize_by_alias=True)


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return value
    if len(value) > MAX_METADATA_PAIRS:
        raise PydanticCustomError(
            "object_above_max_properties",
            "Invalid 'metadata': too many properties. Expected an object with at most "
            "{limit} properties, but got an object with {count} properties instead.",
            {"limit": MAX_METADATA_PAIRS, "count": len(value)},
        )
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise PydanticCustomError(
                "string_above_max_length",
                "Invalid 'metadata': key '{key}' is too long. Expected a key of at most "
                "{limit} characters, but got {count} characters instead.",
                {"key": key[:70], "limit": MAX_METADATA_KEY, "count": len(key)},
            )
        if len(item) > MAX_METADATA_VALUE:
            raise PydanticCustomError(
                "string_above_max_length",
                "Invalid 'metadata.{key}': string too long. Expected a string with maximum "
                "length {limit}, but got a string with length {count} instead.",
                {"key": key, "limit": MAX_METADATA_VALUE, "count": len(item)},
            )
    return value


Metadata = Annotated[dict[str, str] | None, AfterValidator(_check_metadata)]


class ListQuery(BaseModel):
    """`limit`, `order`, `after` and `before` from a list request's query string."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


class ListPage(BaseModel, Generic[T]):
    """OpenAI's cursor page: `{object: "list", data, first_id, last_id, has_more}`."""

    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedObject(BaseModel):
    id: str
    object: str
    deleted: bool = True


WIRE_CONTEXT = {"wire": True}


def on_the_wire(info: SerializationInfo) -> bool:
    """True when a model is being serialised for a client (not for the store)."""
    context = info.context
    return isinstance(context, dict) and bool(context.get("wire"))


def wire_json(model: BaseModel) -> bytes:
    """A model as the JSON a client receives."""
    return model.model_dump_json(by_alias=True, context=WIRE_CONTEXT).encode()
