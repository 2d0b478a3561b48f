"""The file_search tool inside a run, through the official SDK against `threadline serve`:
a real vector store (MiniLM ingestion), a scripted upstream that searches then cites."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.harness import SDK_DEPRECATED, PostgresDatabases, ServerFactory, sdk_client
from threadline.fake_upstream import FakeUpstream
from threadline.store.postgres import asyncpg_url

pytestmark = [pytest.mark.e2e, SDK_DEPRECATED]

FJORDS = b"The Sognefjord is the longest fjord in Norway, about 205 kilometres long."
INCLUDE: Any = ["step_details.tool_calls[*].file_search.results[*].content"]


def _searching_assistant(client: openai.OpenAI, upstream: FakeUpstream) -> tuple[Any, Any]:
    """An assistant over a vector store holding one file; the upstream scripted to search
    it and then answer with a citation."""
    upstream.reset()
    vs = client.vector_stores.create(name="geo")
    uploaded = client.vector_stores.files.upload_and_poll(
        vector_store_id=vs.id, file=("fjords.txt", FJORDS), poll_interval_ms=100
    )
    assert uploaded.status == "completed"
    assistant = client.beta.assistants.create(
        model="fake-model",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [vs.id]}},
    )
    upstream.enqueue(
        {"tool_calls": [{"name": "file_search", "arguments": '{"query": "longest fjord"}'}]},
        {"text": "The Sognefjord【0†fjords.txt】."},
    )
    return assistant, uploaded


def test_a_run_searches_files_and_cites_them(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    assistant, uploaded = _searching_assistant(client, upstream)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Longest fjord?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    tool_output = upstream.history[-1]["messages"][-1]
    assert tool_output["role"] == "tool"
    assert f"[fjords.txt ({uploaded.id})] {FJORDS.decode()}" in tool_output["content"]

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert steps[0].step_details.type == "tool_calls"
    [call] = steps[0].step_details.tool_calls
    assert call.type == "file_search"
    [result] = call.file_search.results or []
    assert (result.file_id, result.file_name, result.content) == (uploaded.id, "fjords.txt", None)
    full = client.beta.threads.runs.steps.retrieve(
        steps[0].id, thread_id=thread.id, run_id=run.id, include=INCLUDE
    )
    assert full.step_details.type == "tool_calls"
    [call] = full.step_details.tool_calls
    assert call.type == "file_search"
    [result] = call.file_search.results or []
    assert result.content is not None
    assert result.content[0].text == FJORDS.decode()

    [message] = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    [content] = message.content
    assert content.type == "text"
    assert content.text.value == "The Sognefjord【0†fjords.txt】."
    [annotation] = content.text.annotations
    assert annotation.type == "file_citation"
    assert annotation.file_citation.file_id == uploaded.id
    assert annotation.text == "【0†fjords.txt】"
    assert (annotation.start_index, annotation.end_index) == (14, 28)


@pytest.mark.parametrize("include", [INCLUDE, None])
def test_a_streamed_run_shows_content_only_when_included(
    client: openai.OpenAI, upstream: FakeUpstream, include: Any
) -> None:
    assistant, uploaded = _searching_assistant(client, upstream)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Longest fjord?"}])
    extra: Any = {"include": include} if include else {}
    stream = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, stream=True, **extra
    )
    steps = [e.data for e in stream if e.event == "thread.run.step.completed"]
    tool_step = next(s for s in steps if s.step_details.type == "tool_calls")
    assert tool_step.step_details.type == "tool_calls"
    [call] = tool_step.step_details.tool_calls
    assert call.type == "file_search"
    [result] = call.file_search.results or []
    assert result.file_id == uploaded.id
    assert (result.content is not None) == bool(include)


def test_file_search_on_pgvector(
    pgvector_server_url: str, server_factory: ServerFactory, upstream: FakeUpstream
) -> None:
    """The same run on PostgreSQL with pgvector: the chunk vectors land in its index, and
    both the run's search and the endpoint's find the file through it."""
    databases = PostgresDatabases(pgvector_server_url)
    try:
        url = databases.new()
        server = server_factory(url, env={"THREADLINE_MODEL_BASE_URL": upstream.base_url})
        with sdk_client(server.base_url) as client:
            assistant, uploaded = _searching_assistant(client, upstream)
            indexed = asyncio.run(_count(url, "SELECT count(*) FROM chunk_vectors"))
            assert indexed >= 1
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "Fjord?"}])
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant.id
            )
            assert run.status == "completed"
            assert FJORDS.decode() in upstream.history[-1]["messages"][-1]["content"]
            vs_id = assistant.tool_resources.file_search.vector_store_ids[0]
            page = client.vector_stores.search(vs_id, query="the longest fjord in Norway")
            assert [r.file_id for r in page.data] == [uploaded.id]
        server.stop()
    finally:
        databases.drop_all()


async def _count(url: str, query: str) -> int:
    engine = create_async_engine(asyncpg_url(url))
    try:
        async with engine.connect() as connection:
            value: int = (await connection.execute(text(query))).scalar_one()
            return value
    finally:
        await engine.dispose()
