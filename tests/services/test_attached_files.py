"""Files reaching vector stores through the `vector_stores` helper and message
attachments, over the in-memory store with a bag-of-words embedder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.test_vector_stores import BagOfWords, Setup
from threadline.errors import InvalidRequestError, NotFoundError
from threadline.protocol.assistants import CreateAssistantRequest
from threadline.protocol.common import ListQuery
from threadline.protocol.messages import CreateMessageRequest
from threadline.protocol.runs import CreateRunRequest, CreateThreadAndRunRequest
from threadline.protocol.threads import CreateThreadRequest
from threadline.protocol.vector_stores import CreateVectorStoreRequest, VectorStoreFileListQuery
from threadline.runs.bus import LocalBus
from threadline.services import Services
from threadline.services.messages import MessageListQuery

CATS = b"Cats purr when they are content."
DOGS = b"Dogs bark at the mail carrier."


class World(Setup):
    def __init__(self) -> None:
        super().__init__()
        self.services = Services.over(
            self.store, LocalBus(), 600, blobs=self.blobs, embedder=BagOfWords()
        )

    async def file_ids(self, vector_store_id: str) -> list[str]:
        page = await self.services.vector_stores.list_files(
            vector_store_id, VectorStoreFileListQuery(order="asc")
        )
        return [f.id for f in page.data]

    async def thread_store(self, thread_id: str) -> str:
        thread = await self.services.threads.get(thread_id)
        assert thread.tool_resources is not None
        assert thread.tool_resources.file_search is not None
        [vector_store_id] = thread.tool_resources.file_search.vector_store_ids
        return vector_store_id


@pytest.fixture
def world() -> World:
    return World()


def message(*attached: str, tools: tuple[str, ...] = ("file_search",)) -> CreateMessageRequest:
    attachments = [{"file_id": f, "tools": [{"type": t} for t in tools]} for f in attached]
    return CreateMessageRequest.model_validate(
        {"role": "user", "content": "hi", "attachments": attachments}
    )


def helper(*file_ids: str, **extra: Any) -> dict[str, Any]:
    return {"file_search": {"vector_stores": [{"file_ids": list(file_ids), **extra}]}}


async def test_assistant_helper_creates_a_vector_store(world: World) -> None:
    cats = await world.upload("cats.txt", CATS)
    strategy = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
    }
    request = CreateAssistantRequest.model_validate(
        {
            "model": "m",
            "tool_resources": helper(cats, chunking_strategy=strategy, metadata={"k": "v"}),
        }
    )
    assistant = await world.services.assistants.create(request)
    assert assistant.tool_resources is not None
    assert assistant.tool_resources.file_search
    [vs_id] = assistant.tool_resources.file_search.vector_store_ids
    await world.drain()
    vs = await world.services.vector_stores.get(vs_id)
    assert (vs.status, vs.file_counts.completed, vs.metadata, vs.expires_after) == (
        "completed",
        1,
        {"k": "v"},
        None,
    )
    file = await world.services.vector_stores.get_file(vs_id, cats)
    assert file.chunking_strategy["static"]["max_chunk_size_tokens"] == 100


async def test_helper_errors(world: World) -> None:
    both = {"file_search": {"vector_store_ids": ["vs_a"], "vector_stores": [{"file_ids": []}]}}
    with pytest.raises(InvalidRequestError) as refused:
        await world.services.threads.create(CreateThreadRequest(tool_resources=both))  # type: ignore[arg-type]
    assert refused.value.param == "tool_resources.file_search"
    with pytest.raises(NotFoundError):
        await world.services.threads.create(
            CreateThreadRequest.model_validate({"tool_resources": helper("file-nope")})
        )
    page = await world.services.vector_stores.list(ListQuery())
    assert page.data == []


async def test_thread_helper_store_expires_after_a_week(world: World) -> None:
    cats = await world.upload("cats.txt", CATS)
    thread = await world.services.threads.create(
        CreateThreadRequest.model_validate({"tool_resources": helper(cats)})
    )
    vs = await world.services.vector_stores.get(await world.thread_store(thread.id))
    assert vs.expires_after is not None
    assert vs.expires_after.days == 7
    assert await world.file_ids(vs.id) == [cats]


async def test_thread_messages_attachments_make_a_vector_store(world: World) -> None:
    cats = await world.upload("cats.txt", CATS)
    dogs = await world.upload("dogs.txt", DOGS)
    code = await world.upload("code.txt", b"print(1)")
    request = CreateThreadRequest(
        messages=[message(cats, dogs), message(cats), message(code, tools=("code_interpreter",))]
    )
    thread = await world.services.threads.create(request)
    vs_id = await world.thread_store(thread.id)
    assert thread.tool_resources is not None
    assert thread.tool_resources.file_search
    assert thread.tool_resources.file_search.vector_store_ids == [vs_id]
    vs = await world.services.vector_stores.get(vs_id)
    assert vs.name == f"Vector store for {thread.id}"
    assert sorted(await world.file_ids(vs_id)) == sorted([cats, dogs])
    await world.drain()
    assert (await world.services.vector_stores.get(vs_id)).file_counts.completed == 2


async def test_code_interpreter_attachments_change_nothing(world: World) -> None:
    code = await world.upload("code.txt", b"print(1)")
    thread = await world.services.threads.create(
        CreateThreadRequest(messages=[message(code, tools=("code_interpreter",))])
    )
    await world.services.messages.create(thread.id, message(code, tools=("code_interpreter",)))
    assert (await world.services.threads.get(thread.id)).tool_resources.file_search is None  # type: ignore[union-attr]
    assert (await world.services.vector_stores.list(ListQuery())).data == []


async def test_a_message_joins_the_threads_vector_store(world: World) -> None:
    cats = await world.upload("cats.txt", CATS)
    dogs = await world.upload("dogs.txt", DOGS)
    vs = await world.services.vector_stores.create(CreateVectorStoreRequest(file_ids=[cats]))
    thread = await world.services.threads.create(
        CreateThreadRequest.model_validate(
            {"tool_resources": {"file_search": {"vector_store_ids": [vs.id]}}}
        )
    )
    await world.services.messages.create(thread.id, message(cats, dogs))
    assert await world.thread_store(thread.id) == vs.id
    assert sorted(await world.file_ids(vs.id)) == sorted([cats, dogs])


async def test_a_message_gives_a_bare_thread_a_vector_store(world: World) -> None:
    cats = await world.upload("cats.txt", CATS)
    thread = await world.services.threads.create(CreateThreadRequest())
    await world.services.messages.create(thread.id, message(cats))
    assert await world.file_ids(await world.thread_store(thread.id)) == [cats]


async def test_unknown_attachments_write_nothing(world: World) -> None:
    cats = await world.upload("cats.txt", CATS)
    with pytest.raises(NotFoundError) as missing:
        await world.services.threads.create(CreateThreadRequest(messages=[message(cats, "file-x")]))
    assert str(missing.value) == "No file found with id 'file-x'."
    thread = await world.services.threads.create(CreateThreadRequest())
    with pytest.raises(NotFoundError):
        await world.services.messages.create(thread.id, message("file-x"))
    page = await world.services.messages.list(thread.id, MessageListQuery())
    assert page.data == []
    assert (await world.services.vector_stores.list(ListQuery())).data == []


async def test_runs_attach_their_messages_files(world: World) -> None:
    cats = await world.upload("cats.txt", CATS)
    dogs = await world.upload("dogs.txt", DOGS)
    assistant = await world.services.assistants.create(CreateAssistantRequest(model="m"))
    run, _ = await world.services.runs.create_thread_and_run(
        CreateThreadAndRunRequest(
            assistant_id=assistant.id, thread=CreateThreadRequest(messages=[message(cats)])
        )
    )
    vs_id = await world.thread_store(run.thread_id)
    assert await world.file_ids(vs_id) == [cats]
    other = await world.services.threads.create(CreateThreadRequest())
    await world.services.runs.create(
        other.id, CreateRunRequest(assistant_id=assistant.id, additional_messages=[message(dogs)])
    )
    assert await world.file_ids(await world.thread_store(other.id)) == [dogs]
    # The run above holds the thread: the unknown file is reported first.
    with pytest.raises(NotFoundError):
        await world.services.runs.create(
            other.id,
            CreateRunRequest(assistant_id=assistant.id, additional_messages=[message("file-x")]),
        )
