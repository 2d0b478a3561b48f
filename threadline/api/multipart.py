"""`multipart/form-data` read as it arrives: small fields are kept, and the bytes of the
one file part are handed on chunk by chunk, so an upload is never held whole in memory
nor spooled to a temporary file first."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from threadline.errors import InvalidRequestError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["Form", "read_form"]

T = TypeVar("T")

MAX_FIELDS = 16
MAX_FIELD_BYTES = 64 * 1024
FORM_MEDIA_TYPE = b"multipart/form-data"


@dataclass(frozen=True)
class _Part:
    name: str
    filename: str | None


# What the parser reports: a part begins (its headers read), some of its data, it ends.
_Event = _Part | bytes | None

# Takes the file part's filename, the fields read before it, and its bytes.
FileReceiver = Callable[[str, Mapping[str, str], AsyncIterator[bytes]], Awaitable[T]]


@dataclass
class Form(Generic[T]):
    """The fields of a form, and what the receiver made of its file part (if any)."""

    fields: dict[str, str] = field(default_factory=dict)
    file: T | None = None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


class _Recorder:
    """python_multipart's callbacks, recorded as events until `take()`."""

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self._name = b""
        self._value = b""
        self._disposition = b""

    def take(self) -> list[_Event]:
        events, self.events = self.events, []
        return events

    def on_part_begin(self) -> None:
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        if self._name.lower() == b"content-disposition":
            self._disposition = self._value
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise InvalidRequestError("Invalid multipart body: a part has no name.")
        filename = options.get(b"filename")
        self.events.append(
            _Part(_decode(options[b"name"]), None if filename is None else _decode(filename))
        )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(data[start:end])

    def on_part_end(self) -> None:
        self.events.append(None)


def _boundary(content_type: str) -> bytes:
    media_type, options = parse_options_header(content_type)
    if media_type != FORM_MEDIA_TYPE:
        raise InvalidRequestError(
            f"Invalid Content-Type header ({content_type or 'none'}), expected "
            "multipart/form-data. (HINT: If you're using curl, you can pass "
            "-H 'Content-Type: multipart/form-data')"
        )
    if not options.get(b"boundary"):
        raise InvalidRequestError("Invalid multipart body: the Content-Type has no boundary.")
    return options[b"boundary"]


async def _events(request: Request, boundary: bytes) -> AsyncGenerator[_Event, None]:
    recorder = _Recorder()
    callbacks: MultipartCallbacks = {
        "on_part_begin": recorder.on_part_begin,
        "on_header_field": recorder.on_header_field,
        "on_header_value": recorder.on_header_value,
        "on_header_end": recorder.on_header_end,
        "on_headers_finished": recorder.on_headers_finished,
        "on_part_data": recorder.on_part_data,
        "on_part_end": recorder.on_part_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        async for chunk in request.stream():
            parser.write(chunk)
            for event in recorder.take():
                yield event
        parser.finalize()
    except FormParserError as exc:
        raise InvalidRequestError(f"Invalid multipart body: {exc}") from None
    except ClientDisconnect:
        raise InvalidRequestError("The request body ended early.") from None
    for event in recorder.take():
        yield event


async def _part_data(events: AsyncIterator[_Event]) -> AsyncIterator[bytes]:
    """The current part's bytes, up to its end."""
    async for event in events:
        if event is None:
            return
        assert isinstance(event, bytes)
        yield event
    raise InvalidRequestError("Invalid multipart body: it ends inside a part.")


async def _field_value(events: AsyncIterator[_Event], name: str) -> str:
    value = bytearray()
    async for chunk in _part_data(events):
        value += chunk
        if len(value) > MAX_FIELD_BYTES:
            raise InvalidRequestError(f"Invalid '{name}': the value is too long.", param=name)
    return _decode(bytes(value))


async def _read_part(
    part: _Part,
    events: AsyncIterator[_Event],
    form: Form[T],
    file_field: str,
    receive: FileReceiver[T],
) -> None:
    if part.filename is not None and part.name != file_field:
        raise InvalidRequestError(
            f"Unrecognized request argument supplied: {part.name}",
            param=part.name,
            code="unknown_parameter",
        )
    if part.filename is None:
        if len(form.fields) >= MAX_FIELDS:
            raise InvalidRequestError("Invalid multipart body: too many fields.")
        form.fields[part.name] = await _field_value(events, part.name)
        return
    if form.file is not None:
        raise InvalidRequestError("Only one file may be uploaded at a time.", param=file_field)
    data = _part_data(events)
    form.file = await receive(part.filename, dict(form.fields), data)
    async for _ in data:  # what the receiver left unread
        pass


async def read_form(
    request: Request,
    file_field: str,
    receive: FileReceiver[T],
    discard: Callable[[T], Awaitable[None]],
) -> Form[T]:
    """The form in `request`'s body. The part named `file_field` that carries a filename
    goes to `receive` as it arrives; when the form is refused after that, what `receive`
    returned goes to `discard`. Parts without a filename are fields; a file under
    another name is refused."""
    boundary = _boundary(request.headers.get("content-type", ""))
    form: Form[T] = Form()
    try:
        async with contextlib.aclosing(_events(request, boundary)) as events:
            async for event in events:
                if isinstance(event, _Part):
                    await _read_part(event, events, form, file_field, receive)
    except BaseException:
        if form.file is not None:
            await discard(form.file)
        raise
    return form
