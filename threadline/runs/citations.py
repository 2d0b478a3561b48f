"""Citation markers in an assistant's text, `【<index>†<file_name>】` (as the file_search
tool output tells the model to write them), turned into `file_citation` annotations.

A marker names its source by file name, looked up among the results of the run's
file_search calls; a name that matches none falls back to the index into the latest
call's results. A marker that resolves to no file stays plain text. The text keeps the
markers, as OpenAI's did."""

from __future__ import annotations

import re
from collections.abc import Sequence

from threadline.protocol.messages import FileCitation, FileCitationAnnotation
from threadline.protocol.runs import FileSearchResult, FileSearchToolCall, RunStep, ToolCallsDetails

__all__ = ["MARKER_OPEN", "annotate", "search_results"]

MARKER_OPEN = "【"
# OpenAI's own markers read 【<message>:<index>†<name>】: the optional `:<n>` is accepted.
_MARKER = re.compile(r"【(\d+)(?::(\d+))?†([^】\n]*)】")


def search_results(steps: Sequence[RunStep]) -> list[list[FileSearchResult]]:
    """The results of each file_search call among `steps`, in order."""
    found = []
    for step in steps:
        details = step.step_details
        if isinstance(details, ToolCallsDetails):
            found += [
                call.file_search.results
                for call in details.tool_calls
                if isinstance(call, FileSearchToolCall)
            ]
    return found


def _resolve(
    index: int, name: str, by_name: dict[str, str], latest: list[FileSearchResult]
) -> str | None:
    if name in by_name:
        return by_name[name]
    return latest[index].file_id if index < len(latest) else None


def annotate(
    text: str, results: Sequence[Sequence[FileSearchResult]]
) -> list[FileCitationAnnotation]:
    """The file_citation annotations of the markers in `text` (character offsets)."""
    by_name: dict[str, str] = {}
    for call_results in results:
        for result in call_results:
            by_name.setdefault(result.file_name, result.file_id)
    latest = next((list(r) for r in reversed(results) if r), [])
    annotations = []
    for match in _MARKER.finditer(text):
        index = int(match.group(2) if match.group(2) is not None else match.group(1))
        file_id = _resolve(index, match.group(3).strip(), by_name, latest)
        if file_id is None:
            continue
        annotations.append(
            FileCitationAnnotation(
                text=match.group(0),
                file_citation=FileCitation(file_id=file_id),
                start_index=match.start(),
                end_index=match.end(),
            )
        )
    return annotations
