"""The Files API in process: lists, retrieval, downloads, deletion and expiry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.test_files import a_file, blobs_of, error_of, purpose, upload
from threadline.ids import now
from threadline.testing import memory_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(memory_app()) as test_client:
        yield test_client


def create(client: TestClient, purpose_name: str = "assistants", **form: str) -> dict[str, Any]:
    filename = form.pop("filename", "notes.md")
    content = form.pop("content", "# Notes\n").encode()
    fields = [(name, None, value.encode()) for name, value in form.items()]
    response = upload(client, purpose(purpose_name), *fields, a_file(filename, content))
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def ids(response: Any) -> list[str]:
    return [f["id"] for f in response.json()["data"]]


def test_missing_files_answer_openais_404(client: TestClient) -> None:
    for response in (
        client.get("/v1/files/file-nope"),
        client.get("/v1/files/file-nope/content"),
        client.delete("/v1/files/file-nope"),
    ):
        error = error_of(response, 404)
        assert (error["message"], error["param"]) == ("No such File object: file-nope", "id")


def test_list_pages_and_filters(client: TestClient) -> None:
    made = [create(client, p)["id"] for p in ("assistants", "user_data", "assistants")]
    everything = client.get("/v1/files").json()
    assert [f["id"] for f in everything["data"]] == made[::-1]
    assert (everything["first_id"], everything["last_id"]) == (made[2], made[0])
    assert everything["has_more"] is False
    assert ids(client.get("/v1/files", params={"purpose": "assistants"})) == [made[2], made[0]]
    assert ids(client.get("/v1/files", params={"purpose": "vision"})) == []
    first = client.get("/v1/files", params={"limit": 1, "order": "asc"}).json()
    assert (first["data"][0]["id"], first["has_more"]) == (made[0], True)
    rest = client.get("/v1/files", params={"order": "asc", "after": made[0]})
    assert ids(rest) == made[1:]


def test_an_empty_list_uses_empty_cursor_ids(client: TestClient) -> None:
    assert client.get("/v1/files").json() == {
        "object": "list",
        "data": [],
        "first_id": "",
        "last_id": "",
        "has_more": False,
    }


def test_the_default_page_holds_ten_thousand(client: TestClient) -> None:
    for _ in range(3):
        create(client)
    assert len(ids(client.get("/v1/files", params={"limit": 10_000}))) == 3


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "file-nope"}, "after"),
    ],
)
def test_bad_list_queries_name_the_param(
    client: TestClient, params: dict[str, Any], param: str
) -> None:
    create(client)
    assert error_of(client.get("/v1/files", params=params))["param"] == param


@pytest.mark.parametrize(
    ("filename", "media_type"),
    [
        ("notes.txt", "text/plain"),
        ("notes.md", "text/markdown"),
        ("data.json", "application/json"),
        ("picture.PNG", "image/png"),
        ("blob.bin", "application/octet-stream"),
        ("archive.gz", "application/octet-stream"),
        ("no-extension", "application/octet-stream"),
        ("page.htm", "text/html"),
    ],
)
def test_content_is_served_with_the_filenames_media_type(
    client: TestClient, filename: str, media_type: str
) -> None:
    created = create(client, "user_data", filename=filename, content="{not json")
    response = client.get(f"/v1/files/{created['id']}/content")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["content-length"] == "9"
    assert response.content == b"{not json"


def test_binary_content_comes_back_byte_for_byte(client: TestClient) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5) + b"\r\n--another-boundary\r\n"
    response = upload(client, purpose("user_data"), a_file("random.bin", data))
    assert response.json()["bytes"] == len(data)
    assert client.get(f"/v1/files/{response.json()['id']}/content").content == data


def test_delete_removes_the_row_and_the_bytes(client: TestClient) -> None:
    kept, gone = create(client)["id"], create(client)["id"]
    response = client.delete(f"/v1/files/{gone}")
    assert response.json() == {"id": gone, "object": "file", "deleted": True}
    assert list(blobs_of(client)) == [kept]
    assert client.get(f"/v1/files/{gone}").status_code == 404
    assert client.delete(f"/v1/files/{gone}").status_code == 404
    assert ids(client.get("/v1/files")) == [kept]


def test_expires_after_sets_expires_at(client: TestClient) -> None:
    created = create(
        client, **{"expires_after[anchor]": "created_at"}, **{"expires_after[seconds]": "3600"}
    )
    assert created["expires_at"] == created["created_at"] + 3600
    assert client.get(f"/v1/files/{created['id']}").json() == created


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "3599"},
         "expires_after.seconds", "integer_below_min_value"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "2592001"},
         "expires_after.seconds", "integer_above_max_value"),
        ({"expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"},
         "expires_after.anchor", "invalid_value"),
        ({"expires_after[anchor]": "created_at"}, "expires_after.seconds",
         "missing_required_parameter"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "soon"},
         "expires_after.seconds", "invalid_value"),
    ],
)  # fmt: skip
def test_bad_expiry_is_refused(
    client: TestClient, fields: dict[str, str], param: str, code: str
) -> None:
    parts = [(name, None, value.encode()) for name, value in fields.items()]
    error = error_of(upload(client, purpose("assistants"), *parts, a_file()))
    assert (error["param"], error["code"]) == (param, code)
    assert blobs_of(client) == {}


def test_an_expired_file_is_gone_for_every_reader(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    lasting = create(client)["id"]
    expiring = create(
        client, **{"expires_after[anchor]": "created_at"}, **{"expires_after[seconds]": "3600"}
    )["id"]
    assert ids(client.get("/v1/files")) == [expiring, lasting]
    later = now() + 3600
    monkeypatch.setattr("threadline.services.files.now", lambda: later)
    assert client.get(f"/v1/files/{expiring}").status_code == 404
    assert client.get(f"/v1/files/{expiring}/content").status_code == 404
    assert ids(client.get("/v1/files")) == [lasting]
    assert client.delete(f"/v1/files/{expiring}").status_code == 404
    assert list(blobs_of(client)) == [lasting]  # deleting it still removed its bytes


def test_content_without_its_bytes_is_a_server_error(client: TestClient) -> None:
    created = create(client)
    blobs_of(client).clear()
    response = client.get(f"/v1/files/{created['id']}/content")
    error = response.json()["error"]
    assert response.status_code == 500
    assert error["message"] == f"The content of file {created['id']} is missing on this server."
