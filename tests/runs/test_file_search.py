"""The file_search tool inside runs, over a fake search, and its citations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from threadline.protocol.messages import FileCitationAnnotation, TextContent
from threadline.protocol.runs import FileSearchResult, FileSearchToolCall, RunStep, ToolCallsDetails
from threadline.protocol.tools import ToolResources
from threadline.runs.citations import annotate
from threadline.runs.executor import Executor
from threadline.services.search import SearchHit
from threadline.services.steps import RESULT_CONTENT, shown
from threadline.testing import Reply
from threadline.tools.builtin import BuiltinTools
from threadline.tools.file_search import NO_FILES, FileSearcher

from .conftest import Harness

QUERY = json.dumps({"query": "rain in Oslo"})
HITS = [
    SearchHit("vs_a", "file-notes", "notes.md", 0.9, "Oslo is rainy."),
    SearchHit("vs_a", "file-other", "other.md", 0.4, "Bergen is rainier."),
]


@dataclass
class FakeSearch:
    hits: list[SearchHit] = field(default_factory=lambda: list(HITS))
    calls: list[tuple[list[str], str, int, float]] = field(default_factory=list)

    async def search(
        self,
        vector_store_ids: Sequence[str],
        query: str,
        max_num_results: int = 10,
        score_threshold: float = 0.0,
    ) -> list[SearchHit]:
        self.calls.append((list(vector_store_ids), query, max_num_results, score_threshold))
        return self.hits[:max_num_results]


def executor(harness: Harness, search: FakeSearch) -> Executor:
    tools = BuiltinTools(file_search=FileSearcher(harness.store, search))
    return Executor(harness.store, harness.model, harness.bus, tools, harness.config)


def file_search_call(step: RunStep) -> FileSearchToolCall:
    details = step.step_details
    assert isinstance(details, ToolCallsDetails)
    [call] = details.tool_calls
    assert isinstance(call, FileSearchToolCall)
    return call


async def run_search(
    harness: Harness, search: FakeSearch, answer: str, **assistant: Any
) -> tuple[FileSearchToolCall, TextContent]:
    harness.model.enqueue(Reply(tool_calls=(("file_search", QUERY),)), Reply(text=answer))
    run = await harness.start(assistant=assistant)
    await harness.drive(executor(harness, search))
    assert (await harness.get(run)).status == "completed"
    tool_step, _ = await harness.steps(run)
    [content] = (await harness.reply(run)).content
    assert isinstance(content, TextContent)
    return file_search_call(tool_step), content


async def test_a_search_is_recorded_with_its_results(harness: Harness) -> None:
    search = FakeSearch()
    tool = {"type": "file_search", "file_search": {"max_num_results": 1}}
    resources = {"file_search": {"vector_store_ids": ["vs_a"]}}
    call, _ = await run_search(harness, search, "Rainy.", tools=[tool], tool_resources=resources)
    assert search.calls == [(["vs_a"], "rain in Oslo", 1, 0.0)]
    assert call.model_dump(mode="json", exclude_none=True)["file_search"] == {
        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
        "results": [
            {
                "file_id": "file-notes",
                "file_name": "notes.md",
                "score": 0.9,
                "content": [{"type": "text", "text": "Oslo is rainy."}],
            }
        ],
    }
    tool_message = harness.model.history[1].messages[-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"].startswith("[notes.md (file-notes)] Oslo is rainy.\n")


async def test_the_threshold_and_both_stores_are_searched(harness: Harness) -> None:
    search = FakeSearch()
    ranking = {"score_threshold": 0.5}
    tool = {"type": "file_search", "file_search": {"ranking_options": ranking}}
    resources = {"file_search": {"vector_store_ids": ["vs_a"]}}
    call, _ = await _with_thread_store(harness, search, tool, resources)
    assert search.calls == [(["vs_a", "vs_t"], "rain in Oslo", 20, 0.5)]
    assert call.file_search.ranking_options is not None
    assert call.file_search.ranking_options.score_threshold == 0.5


async def _with_thread_store(
    harness: Harness, search: FakeSearch, tool: dict[str, Any], resources: dict[str, Any]
) -> tuple[FileSearchToolCall, TextContent]:
    harness.model.enqueue(Reply(tool_calls=(("file_search", QUERY),)), Reply(text="Ok."))
    assistant = await harness.assistant(tools=[tool], tool_resources=resources)
    thread = await harness.thread("Rain?")
    thread_resources = ToolResources.model_validate({"file_search": {"vector_store_ids": ["vs_t"]}})
    updated = thread.model_copy(update={"tool_resources": thread_resources})
    await harness.store.replace_thread(updated)
    run = await harness.run(thread.id, assistant.id)
    await harness.drive(executor(harness, search))
    tool_step, _ = await harness.steps(run)
    [content] = (await harness.reply(run)).content
    assert isinstance(content, TextContent)
    return file_search_call(tool_step), content


async def test_no_vector_stores_tells_the_model(harness: Harness) -> None:
    search = FakeSearch()
    call, content = await run_search(harness, search, "No files.", tools=[{"type": "file_search"}])
    assert search.calls == []
    assert call.file_search.results == []
    assert harness.model.history[1].messages[-1]["content"] == NO_FILES
    assert content.text.value == "No files."


async def test_citations_become_annotations(harness: Harness) -> None:
    resources = {"file_search": {"vector_store_ids": ["vs_a"]}}
    answer = "It rains【0†notes.md】, more in Bergen【1†other.md】."
    _, content = await run_search(
        harness, FakeSearch(), answer, tools=[{"type": "file_search"}], tool_resources=resources
    )
    assert content.text.value == answer
    first, second = content.text.annotations
    assert isinstance(first, FileCitationAnnotation)
    assert first.file_citation.file_id == "file-notes"
    assert answer[first.start_index : first.end_index] == "【0†notes.md】" == first.text
    assert isinstance(second, FileCitationAnnotation)
    assert second.file_citation.file_id == "file-other"


def result(file_id: str, name: str) -> FileSearchResult:
    return FileSearchResult(file_id=file_id, file_name=name, score=1.0)


def test_annotate_resolves_names_then_indexes() -> None:
    first = [result("file-a", "a.md"), result("file-b", "b.md")]
    latest = [result("file-c", "c.md")]
    text = "x【1†b.md】 y【0†gone.md】 z【4:0†a.md】 w【7†nope】 v【0†c.md"
    annotations = annotate(text, [first, latest])
    assert [(a.text, a.file_citation.file_id) for a in annotations] == [
        ("【1†b.md】", "file-b"),
        ("【0†gone.md】", "file-c"),
        ("【4:0†a.md】", "file-a"),
    ]
    for annotation in annotations:
        assert text[annotation.start_index : annotation.end_index] == annotation.text


def test_annotate_without_results_or_markers() -> None:
    assert annotate("【0†a.md】", []) == []
    assert annotate("no markers", [[result("file-a", "a.md")]]) == []


def test_shown_strips_content_unless_included() -> None:
    call = {
        "id": "call_fs",
        "type": "file_search",
        "file_search": {
            "results": [
                {
                    "file_id": "file-a",
                    "file_name": "a.md",
                    "score": 0.5,
                    "content": [{"type": "text", "text": "A"}],
                }
            ]
        },
    }
    step = RunStep.model_validate(
        {
            "id": "step_1",
            "created_at": 1,
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "run_id": "run_1",
            "type": "tool_calls",
            "status": "completed",
            "step_details": {"type": "tool_calls", "tool_calls": [call]},
            "metadata": {},
        }
    )
    assert file_search_call(shown(step, frozenset())).file_search.results[0].content is None
    kept = file_search_call(shown(step, frozenset({RESULT_CONTENT})))
    assert kept.file_search.results[0].content is not None
