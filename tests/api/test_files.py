"""The Files API in process: uploads as multipart bodies built by hand (every edge the SDK
never sends), limits, types per purpose, expiry and downloads."""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from starlette.testclient import TestClient

from threadline.blobs import MemoryBlobStore
from threadline.testing import memory_app

BOUNDARY = "threadline-test-boundary"
Part = tuple[str, str | None, bytes]  # name, filename (None: a plain field), content


def multipart(*parts: Part, boundary: str = BOUNDARY) -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


FORM_TYPE = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def upload(client: TestClient, *parts: Part, headers: dict[str, str] | None = None) -> Any:
    return client.post("/v1/files", content=multipart(*parts), headers=headers or FORM_TYPE)


def purpose(value: str) -> Part:
    return ("purpose", None, value.encode())


def a_file(filename: str = "notes.md", content: bytes = b"# Notes\n") -> Part:
    return ("file", filename, content)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(memory_app()) as test_client:
        yield test_client


def blobs_of(client: TestClient) -> dict[str, bytes]:
    blobs = client.app.state.blobs  # type: ignore[attr-defined]
    assert isinstance(blobs, MemoryBlobStore)
    return blobs.blobs


def error_of(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    return error


def test_upload_answers_the_file_object(client: TestClient) -> None:
    response = upload(client, purpose("assistants"), a_file())
    assert response.status_code == 200
    created = response.json()
    assert created == {
        "id": created["id"],
        "object": "file",
        "bytes": 8,
        "created_at": created["created_at"],
        "filename": "notes.md",
        "purpose": "assistants",
        "status": "processed",
    }
    assert re.fullmatch(r"file-[A-Za-z0-9]{24}", created["id"])
    assert blobs_of(client) == {created["id"]: b"# Notes\n"}
    assert client.get(f"/v1/files/{created['id']}").json() == created


def test_the_purpose_may_follow_the_file(client: TestClient) -> None:
    response = upload(client, a_file("data.jsonl", b"{}\n"), purpose("batch"))
    assert response.json()["purpose"] == "batch"
    refused = upload(client, a_file("data.txt"), purpose("batch"))
    assert "Invalid extension txt" in error_of(refused)["message"]
    assert list(blobs_of(client)) == [response.json()["id"]]  # the refused bytes are gone


def test_filenames_keep_their_characters(client: TestClient) -> None:
    name = "résumé (final) 2.PDF"
    response = upload(client, purpose("assistants"), a_file(name, b"%PDF-1.4"))
    assert response.json()["filename"] == name


@pytest.mark.parametrize(
    ("parts", "param", "code"),
    [
        ([purpose("assistants")], "file", "missing_required_parameter"),
        ([purpose("assistants"), ("file", None, b"text")], "file", "invalid_type"),
        ([a_file()], "purpose", "missing_required_parameter"),
        ([purpose("nope"), a_file()], "purpose", "invalid_value"),
        ([purpose("assistants_output"), a_file()], "purpose", "invalid_value"),
        ([purpose("assistants"), a_file(), ("bogus", None, b"1")], "bogus", "unknown_parameter"),
        ([purpose("assistants"), ("document", "a.md", b"x")], "document", "unknown_parameter"),
        ([purpose("assistants"), a_file(), a_file()], "file", None),
    ],
)
def test_malformed_uploads_name_the_param(
    client: TestClient, parts: list[Part], param: str, code: str | None
) -> None:
    error = error_of(upload(client, *parts))
    assert (error["param"], error["code"]) == (param, code)
    assert blobs_of(client) == {}


def test_an_invalid_purpose_lists_the_supported_ones(client: TestClient) -> None:
    message = error_of(upload(client, purpose("nope"), a_file()))["message"]
    assert message == (
        "Invalid value: 'nope'. Supported values are: 'assistants', 'batch', 'fine-tune', "
        "'vision', 'user_data', and 'evals'."
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"content-type": "application/json"}, "Invalid Content-Type header (application/json)"),
        ({}, "Invalid Content-Type header (none)"),
        ({"content-type": "multipart/form-data"}, "has no boundary"),
    ],
)
def test_bodies_that_are_not_forms_are_refused(
    client: TestClient, headers: dict[str, str], message: str
) -> None:
    response = client.post("/v1/files", content=b'{"purpose": "assistants"}', headers=headers)
    assert message in error_of(response)["message"]


@pytest.mark.parametrize(
    "body",
    [
        multipart(purpose("assistants"), a_file())[:-30],  # cut off inside the file
        b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n",
        b"not a multipart body at all",
    ],
)
def test_broken_bodies_are_refused_and_store_nothing(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/files", content=body, headers=FORM_TYPE)
    assert error_of(response)["message"].startswith(("Invalid multipart body", "Missing"))
    assert blobs_of(client) == {}


def test_long_fields_and_many_fields_are_refused(client: TestClient) -> None:
    long_purpose = ("purpose", None, b"a" * 70_000)
    assert error_of(upload(client, long_purpose, a_file()))["param"] == "purpose"
    fields = [(f"f{i}", None, b"1") for i in range(20)]
    assert "too many fields" in error_of(upload(client, *fields))["message"]


def test_an_empty_file_is_refused(client: TestClient) -> None:
    error = error_of(upload(client, purpose("user_data"), a_file("empty.txt", b"")))
    assert (error["message"], error["param"]) == ("File is empty.", "file")
    assert blobs_of(client) == {}


@pytest.mark.parametrize(
    ("purpose_name", "filename"),
    [
        ("assistants", "report.pdf"),
        ("assistants", "Data.CSV"),
        ("assistants", "chart.webp"),
        ("assistants", "config.yml"),
        ("vision", "photo.jpeg"),
        ("batch", "requests.jsonl"),
        ("fine-tune", "train.jsonl"),
        ("user_data", "anything.exe"),
        ("user_data", "no-extension"),
        ("evals", "set.parquet"),
    ],
)
def test_supported_types(client: TestClient, purpose_name: str, filename: str) -> None:
    response = upload(client, purpose(purpose_name), a_file(filename))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("purpose_name", "filename", "extension"),
    [
        ("assistants", "tool.exe", "exe"),
        ("assistants", "Makefile", "(none)"),
        ("assistants", ".md", "(none)"),
        ("vision", "notes.md", "md"),
        ("batch", "requests.json", "json"),
        ("fine-tune", "train.csv", "csv"),
    ],
)
def test_unsupported_types_name_the_extension_and_the_supported_ones(
    client: TestClient, purpose_name: str, filename: str, extension: str
) -> None:
    error = error_of(upload(client, purpose(purpose_name), a_file(filename)))
    assert error["param"] == "file"
    assert error["message"].startswith(f"Invalid extension {extension} for purpose")
    if purpose_name == "vision":
        assert error["message"].endswith('"gif", "jpeg", "jpg", "png", "webp".')
    assert blobs_of(client) == {}


def test_the_size_limit_counts_the_file_bytes() -> None:
    with TestClient(memory_app(max_file_bytes=1024)) as client:
        fits = upload(client, purpose("user_data"), a_file("a.bin", b"x" * 1024))
        assert fits.status_code == 200
        error = error_of(upload(client, purpose("user_data"), a_file("b.bin", b"x" * 1025)))
        assert error["param"] == "file"
        assert error["message"] == (
            "File is too large: files may be at most 1 KiB (1024 bytes) here."
        )
        huge = upload(client, purpose("user_data"), a_file("c.bin", b"x" * 200_000))
        assert "File is too large" in error_of(huge)["message"]
        assert list(blobs_of(client)) == [fits.json()["id"]]


async def test_an_oversized_upload_is_not_read_to_its_end() -> None:
    """Past the limit the server answers at once: the rest of the body stays unread
    (the server closes or drains the connection; the application reads no more)."""
    app = memory_app(max_file_bytes=1024)
    head, tail = multipart(purpose("user_data"), a_file("big.bin", b"<>")).split(b"<>")
    chunks = [head, *[b"x" * 65_536] * 50, tail]
    reads = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": chunks[reads - 1], "more_body": reads < 52}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/files",
        "raw_path": b"/v1/files",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", FORM_TYPE["content-type"].encode())],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b"File is too large" in sent[1]["body"]
    assert reads == 2
