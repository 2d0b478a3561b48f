"""Run steps: read and listed; the `include[]` query decides whether file_search results
carry their content."""

from __future__ import annotations

from threadline.errors import NotFoundError
from threadline.protocol.common import ListPage, ListQuery
from threadline.protocol.runs import FileSearchToolCall, RunStep, ToolCallsDetails
from threadline.services.resources import list_page
from threadline.store.base import Store

__all__ = ["RESULT_CONTENT", "StepService", "shown", "without_result_content"]

RESULT_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def without_result_content(step: RunStep) -> RunStep:
    """The step as shown without `include[]=...results[*].content`."""
    details = step.step_details
    if not isinstance(details, ToolCallsDetails) or not any(
        isinstance(call, FileSearchToolCall) for call in details.tool_calls
    ):
        return step
    calls = [
        call.model_copy(
            update={
                "file_search": call.file_search.model_copy(
                    update={
                        "results": [
                            r.model_copy(update={"content": None}) for r in call.file_search.results
                        ]
                    }
                )
            }
        )
        if isinstance(call, FileSearchToolCall)
        else call
        for call in details.tool_calls
    ]
    return step.model_copy(
        update={"step_details": details.model_copy(update={"tool_calls": calls})}
    )


def shown(step: RunStep, include: frozenset[str]) -> RunStep:
    return step if RESULT_CONTENT in include else without_result_content(step)


class StepService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _check_run(self, thread_id: str, run_id: str) -> None:
        if await self.store.get_run(thread_id, run_id) is None:
            if await self.store.get_thread(thread_id) is None:
                raise NotFoundError.for_object("thread", thread_id)
            raise NotFoundError.for_object("run", run_id)

    async def get(
        self, thread_id: str, run_id: str, step_id: str, include: frozenset[str]
    ) -> RunStep:
        step = await self.store.get_step(thread_id, run_id, step_id)
        if step is None:
            await self._check_run(thread_id, run_id)
            raise NotFoundError.for_object("run step", step_id)
        return shown(step, include)

    async def list(
        self, thread_id: str, run_id: str, query: ListQuery, include: frozenset[str]
    ) -> ListPage[RunStep]:
        await self._check_run(thread_id, run_id)
        page = await self.store.list_steps(thread_id, run_id, query)
        page.data[:] = [shown(step, include) for step in page.data]
        return list_page(page)
