"""Files through the official SDK against `threadline serve`: upload in every form the SDK
takes, list with pagination, retrieve, download byte for byte, delete, the errors, the
size limit and a restart; and files, vector stores and a file_search run through the Node
SDK."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.harness import Databases, Server, ServerFactory, run_node_script, sdk_client

pytestmark = [pytest.mark.e2e]

NOTES = b"# Notes\n\nThreadline keeps files.\n"


def test_upload_retrieve_and_download(client: openai.OpenAI) -> None:
    created = client.files.create(file=("notes.md", NOTES), purpose="assistants")
    assert created.to_dict() == {
        "id": created.id,
        "object": "file",
        "bytes": len(NOTES),
        "created_at": created.created_at,
        "filename": "notes.md",
        "purpose": "assistants",
        "status": "processed",
    }
    assert created.id.startswith("file-")
    assert client.files.retrieve(created.id) == created
    content = client.files.content(created.id)
    assert content.read() == NOTES
    assert content.response.headers["content-type"] == "text/markdown"


def test_upload_from_a_path_and_a_file_object(client: openai.OpenAI, tmp_path: Path) -> None:
    path = tmp_path / "random data.bin"
    data = os.urandom(3 * 1024 * 1024 + 11)
    path.write_bytes(data)
    from_path = client.files.create(file=path, purpose="user_data")
    with path.open("rb") as handle:
        from_handle = client.files.create(file=handle, purpose="user_data")
    for created in (from_path, from_handle):
        assert (created.filename, created.bytes) == ("random data.bin", len(data))
        downloaded = client.files.content(created.id)
        assert downloaded.read() == data
        assert downloaded.response.headers["content-type"] == "application/octet-stream"


def test_an_image_for_vision_comes_back_byte_for_byte(client: openai.OpenAI) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(4096)
    created = client.files.create(file=("chart.png", png, "image/png"), purpose="vision")
    assert client.files.content(created.id).read() == png


def test_expires_after_sets_expires_at(client: openai.OpenAI) -> None:
    created = client.files.create(
        file=("notes.txt", b"short-lived"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.expires_at == created.created_at + 3600
    assert client.files.retrieve(created.id).expires_at == created.expires_at


def test_list_filters_and_paginates(server_factory: ServerFactory, databases: Databases) -> None:
    server = server_factory(databases.new())
    with sdk_client(server.base_url) as sdk:
        batch = [
            sdk.files.create(file=(f"r{i}.jsonl", b'{"n": %d}\n' % i), purpose="batch").id
            for i in range(5)
        ]
        other = sdk.files.create(file=("notes.md", NOTES), purpose="assistants").id
        newest_first = batch[::-1]
        page = sdk.files.list(purpose="batch", limit=2)
        assert ([f.id for f in page.data], page.has_more) == (newest_first[:2], True)
        assert [f.id for f in page.get_next_page().data] == newest_first[2:4]
        assert [f.id for f in sdk.files.list(purpose="batch", limit=2)] == newest_first
        ascending = sdk.files.list(purpose="batch", order="asc", after=batch[1])
        assert [f.id for f in ascending.data] == batch[2:]
        assert [f.id for f in sdk.files.list()] == [other, *newest_first]
        assert sdk.files.list(purpose="fine-tune").data == []


def test_delete_then_everything_is_not_found(client: openai.OpenAI) -> None:
    created = client.files.create(file=("gone.txt", b"bye"), purpose="assistants")
    deleted = client.files.delete(created.id)
    assert deleted.to_dict() == {"id": created.id, "object": "file", "deleted": True}
    for call in (client.files.retrieve, client.files.content, client.files.delete):
        with pytest.raises(openai.NotFoundError) as info:
            call(created.id)
        assert info.value.body == {
            "message": f"No such File object: {created.id}",
            "type": "invalid_request_error",
            "param": "id",
            "code": None,
        }
    assert created.id not in [f.id for f in client.files.list()]


def test_a_bad_purpose_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("notes.md", NOTES), purpose="nope")  # type: ignore[arg-type]
    assert info.value.param == "purpose"
    assert info.value.code == "invalid_value"


@pytest.mark.parametrize(
    ("filename", "purpose"),
    [("tool.exe", "assistants"), ("notes.md", "vision"), ("data.json", "fine-tune")],
)
def test_an_unsupported_type_is_refused(client: openai.OpenAI, filename: str, purpose: str) -> None:
    extension = filename.rpartition(".")[2]
    with pytest.raises(openai.BadRequestError, match=f"Invalid extension {extension}"):
        client.files.create(file=(filename, b"data"), purpose=purpose)  # type: ignore[arg-type]


def test_an_empty_file_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="File is empty"):
        client.files.create(file=("empty.txt", b""), purpose="assistants")


def test_a_raw_form_without_a_file_names_the_param(http: httpx.Client) -> None:
    response = http.post("/files", files={"purpose": (None, "assistants")})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "file"


def test_files_over_the_size_limit_are_refused(
    server_factory: ServerFactory, databases: Databases
) -> None:
    server = server_factory(databases.new(), env={"THREADLINE_MAX_FILE_BYTES": "1024"})
    with sdk_client(server.base_url) as sdk:
        assert sdk.files.create(file=("a.txt", b"x" * 1024), purpose="assistants").bytes == 1024
        for size in (1025, 5 * 1024 * 1024):
            with pytest.raises(openai.BadRequestError, match="File is too large") as info:
                sdk.files.create(file=("b.txt", b"x" * size), purpose="assistants")
            assert info.value.param == "file"
        assert len(sdk.files.list().data) == 1


def test_a_restart_keeps_files(
    server_factory: ServerFactory, databases: Databases, tmp_path: Path
) -> None:
    database_url = databases.new()
    env = {"THREADLINE_DATA_DIR": str(tmp_path / "data")}
    first = server_factory(database_url, env=env)
    data = os.urandom(100_000)
    with sdk_client(first.base_url) as sdk:
        created = sdk.files.create(file=("kept.bin", data), purpose="user_data")
        listed = sdk.files.list().to_dict()
    assert first.stop() in (0, -signal.SIGTERM), first.stderr()
    second = server_factory(database_url, env=env)
    with sdk_client(second.base_url) as sdk:
        assert sdk.files.retrieve(created.id) == created
        assert sdk.files.content(created.id).read() == data
        assert sdk.files.list().to_dict() == listed


async def test_the_async_client_uploads_and_downloads(async_client: openai.AsyncOpenAI) -> None:
    created = await async_client.files.create(file=("notes.md", NOTES), purpose="assistants")
    assert (await async_client.files.retrieve(created.id)) == created
    assert (await async_client.files.content(created.id)).read() == NOTES
    assert (await async_client.files.delete(created.id)).deleted


def test_node_sdk_files_vector_stores_and_file_search(server: Server) -> None:
    """The Node SDK's own multipart uploads (`toFile`), upload and poll helpers, page
    iteration and error classes (tests/node/files_and_search.mjs)."""
    output = run_node_script("files_and_search.mjs", server.base_url)
    assert "node files and search: ok" in output
