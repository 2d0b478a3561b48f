"""The file_search tool inside runs: a search over the vector stores of the run's assistant
and thread, recorded as a `file_search` tool call whose results the model reads back.

The model sees each result as `[<file_name> (<file_id>)] <text>`, and is told to cite what
it uses as `【<index>†<file_name>】`, which becomes a `file_citation` annotation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from threadline.protocol.runs import (
    FileSearchCall,
    FileSearchResult,
    FileSearchToolCall,
    ResultContent,
    Run,
    StepRankingOptions,
)
from threadline.protocol.tools import FileSearchTool, ToolResources
from threadline.services.search import SearchHit
from threadline.store.base import Store

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "NO_FILES",
    "NO_RESULTS",
    "FileSearcher",
    "Searcher",
    "render_output",
]

DEFAULT_MAX_RESULTS = 20

NO_FILES = (
    "There are no files to search: neither the assistant nor the thread has a vector store. "
    "Answer without them, and say so if the user expected an answer from their files."
)
NO_RESULTS = "No passages of the files matched this query."
CITE = (
    "Each result above is [<file_name> (<file_id>)] followed by its text; results are "
    "numbered from 0 in the order listed. When you use a result, cite it right after the "
    "statement as 【<index>†<file_name>】, for example 【0†{name}】."
)


class Searcher(Protocol):
    async def search(
        self,
        vector_store_ids: Sequence[str],
        query: str,
        max_num_results: int = ...,
        score_threshold: float = ...,
    ) -> list[SearchHit]: ...


def _store_ids(resources: ToolResources | None) -> list[str]:
    file_search = resources.file_search if resources is not None else None
    return list(file_search.vector_store_ids[:1]) if file_search is not None else []


def _settings(run: Run) -> tuple[int, float]:
    """The run's file_search tool's max_num_results and score_threshold."""
    for tool in run.tools:
        if isinstance(tool, FileSearchTool) and tool.file_search is not None:
            settings = tool.file_search
            ranking = settings.ranking_options
            threshold = ranking.score_threshold if ranking is not None else 0.0
            return settings.max_num_results or DEFAULT_MAX_RESULTS, threshold
    return DEFAULT_MAX_RESULTS, 0.0


@dataclass
class FileSearcher:
    """Answers the model's file_search calls with the search service's hits."""

    store: Store
    searcher: Searcher

    async def vector_store_ids(self, run: Run) -> list[str]:
        """The assistant's vector store, then the thread's (at most one each)."""
        assistant = await self.store.get_assistant(run.assistant_id)
        thread = await self.store.get_thread(run.thread_id)
        ids = _store_ids(assistant.tool_resources if assistant is not None else None)
        ids += _store_ids(thread.tool_resources if thread is not None else None)
        return list(dict.fromkeys(ids))

    async def call(self, run: Run, call_id: str, query: str) -> FileSearchToolCall:
        ids = await self.vector_store_ids(run)
        if not ids:
            # No ranking options: nothing was searched (the model is told there are no files).
            return FileSearchToolCall(id=call_id, file_search=FileSearchCall())
        max_num_results, threshold = _settings(run)
        hits = await self.searcher.search(ids, query, max_num_results, threshold)
        results = [
            FileSearchResult(
                file_id=hit.file_id,
                file_name=hit.filename,
                score=hit.score,
                content=[ResultContent(text=hit.text)],
            )
            for hit in hits
        ]
        ranking = StepRankingOptions(score_threshold=threshold)
        details = FileSearchCall(ranking_options=ranking, results=results)
        return FileSearchToolCall(id=call_id, file_search=details)


def render_output(call: FileSearchToolCall) -> str:
    """The tool output the model reads for a recorded file_search call."""
    details = call.file_search
    if details.ranking_options is None and not details.results:
        return NO_FILES
    if not details.results:
        return NO_RESULTS
    lines = []
    for result in details.results:
        text = " ".join(content.text for content in result.content or [])
        lines.append(f"[{result.file_name} ({result.file_id})] {text}".rstrip())
    lines.append(CITE.format(name=details.results[0].file_name))
    return "\n".join(lines)
