"""Routes for runs and run steps under /v1/threads."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from prometheus_client import Gauge
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from threadline.api.deps import services
from threadline.api.http import json_response, parse_body, parse_query, path_param
from threadline.api.sse import sse_response
from threadline.engine import Engine
from threadline.errors import InvalidRequestError
from threadline.protocol.common import ListQuery
from threadline.protocol.messages import Message
from threadline.protocol.runs import (
    CreateRunRequest,
    CreateThreadAndRunRequest,
    ModifyRunRequest,
    Run,
    RunStep,
    SubmitToolOutputsRequest,
)
from threadline.runs.events import Event, run_event
from threadline.runs.stream import open_stream
from threadline.services.steps import RESULT_CONTENT, shown
from threadline.store.base import Lease

__all__ = ["routes"]

# The SDK's poll helpers (`create_and_poll` ...) mark their requests with this header; such a
# retrieve waits up to LONG_POLL_SECONDS for the run to need the client or end.
POLL_HELPER_HEADER = "x-stainless-poll-helper"
LONG_POLL_SECONDS = 5.0
POLL_AFTER_MS = "100"


def _ids(request: Request) -> tuple[str, str]:
    return path_param(request, "thread_id"), path_param(request, "run_id")


def _include(request: Request) -> frozenset[str]:
    values = frozenset(request.query_params.getlist("include[]"))
    unknown = values - {RESULT_CONTENT}
    if unknown:
        raise InvalidRequestError(
            f"Invalid value: '{sorted(unknown)[0]}'. Supported values are: '{RESULT_CONTENT}'.",
            param="include",
            code="invalid_value",
        )
    return values


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _lease(request: Request, stream: bool | None) -> Lease | None:
    """Store the run claimed by this process, which executes it itself: always when it is
    streamed; when it is not, if this process executes runs and has a slot free."""
    worker = _engine(request).worker
    return worker.lease() if stream else await worker.reserve()


@contextlib.asynccontextmanager
async def _leasing(request: Request, stream: bool | None) -> AsyncIterator[Lease | None]:
    """`_lease`, with the reserved slot given back when the run is not stored."""
    lease = await _lease(request, stream)
    try:
        yield lease
    except BaseException:
        if lease is not None and not stream:
            _engine(request).worker.unreserve()
        raise


async def _answer(
    request: Request, run: Run, lease: Lease | None, history: Sequence[Message] | None = None
) -> Response:
    """A non-streamed run, stored in progress under this process's lease, starts executing
    here (over `history`, its thread's, when known); the client is answered as for any new
    run: queued."""
    if lease is None:
        return json_response(run)
    await _engine(request).worker.adopt(run, history)
    return json_response(_queued(run))


async def _stream(
    request: Request,
    run: Run,
    prelude: list[Event],
    include: frozenset[str] = frozenset(),
    history: Sequence[Message] | None = None,
    resumed: bool = False,
) -> Response:
    """Execute the run, stored in progress under this process's lease, here (over
    `history`, its thread's, when known; `resumed`: its tool outputs just taken) and answer
    with its events as SSE; steps carry file_search result content only when `include`
    asks for it."""
    engine = _engine(request)
    stream = await open_stream(
        engine.worker, run, prelude, engine.keepalive_seconds, history, resumed=resumed
    )
    return sse_response(_shown_steps(stream.events(), include, engine.metrics.active_streams))


async def _shown_steps(
    batches: AsyncIterator[list[Event | None]], include: frozenset[str], streams: Gauge
) -> AsyncIterator[list[Event | None]]:
    streams.inc()
    try:
        async for batch in batches:
            yield [_shown_step(event, include) for event in batch]
    finally:
        streams.dec()


def _shown_step(event: Event | None, include: frozenset[str]) -> Event | None:
    if event is not None and isinstance(event.data, RunStep):
        return Event(event.event, shown(event.data, include))
    return event


def _created(run: Run) -> list[Event]:
    """`thread.run.created` and `thread.run.queued` for a streamed run, which was stored
    already in progress: the executor announces `thread.run.in_progress` itself."""
    queued = _queued(run)
    return [run_event(queued, "created"), run_event(queued, "queued")]


def _queued(run: Run) -> Run:
    """A run stored already in progress, as it is announced: queued."""
    return run.model_copy(update={"status": "queued", "started_at": None})


async def create(request: Request) -> Response:
    include = _include(request)
    body = await parse_body(request, CreateRunRequest)
    thread_id = path_param(request, "thread_id")
    async with _leasing(request, body.stream) as lease:
        run = await services(request).runs.create(thread_id, body, lease)
    if body.stream:
        return await _stream(request, run, _created(run), include=include)
    return await _answer(request, run, lease)


async def create_thread_and_run(request: Request) -> Response:
    body = await parse_body(request, CreateThreadAndRunRequest)
    async with _leasing(request, body.stream) as lease:
        run, history = await services(request).runs.create_thread_and_run(body, lease)
    if body.stream:
        thread = await services(request).threads.get(run.thread_id)
        prelude = [Event("thread.created", thread), *_created(run)]
        return await _stream(request, run, prelude, history=history)
    return await _answer(request, run, lease, history)


async def list_(request: Request) -> Response:
    query = parse_query(request, ListQuery)
    thread_id = path_param(request, "thread_id")
    return json_response(await services(request).runs.list(thread_id, query))


async def retrieve(request: Request) -> Response:
    runs = services(request).runs
    if request.headers.get(POLL_HELPER_HEADER) == "true":
        run = await runs.wait(*_ids(request), LONG_POLL_SECONDS)
    else:
        run = await runs.get(*_ids(request))
    response = json_response(run)
    response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
    return response


async def modify(request: Request) -> Response:
    body = await parse_body(request, ModifyRunRequest)
    return json_response(await services(request).runs.modify(*_ids(request), body))


async def cancel(request: Request) -> Response:
    return json_response(await services(request).runs.cancel(*_ids(request)))


async def submit_tool_outputs(request: Request) -> Response:
    """The run goes on here when it can, as a new run does (`_lease`): stored in progress
    under this process's lease by the write that takes the outputs, answered as queued."""
    body = await parse_body(request, SubmitToolOutputsRequest)
    async with _leasing(request, body.stream) as lease:
        run = await services(request).runs.submit_tool_outputs(*_ids(request), body, lease)
    if lease is None:
        return json_response(run)
    requeued = run.model_copy(update={"status": "queued"})
    if body.stream:
        return await _stream(request, run, [run_event(requeued)], resumed=True)
    await _engine(request).worker.adopt(run, resumed=True)
    return json_response(requeued)


async def list_steps(request: Request) -> Response:
    query = parse_query(request, ListQuery)
    include = _include(request)
    page = await services(request).steps.list(*_ids(request), query, include)
    return json_response(page)


async def retrieve_step(request: Request) -> Response:
    include = _include(request)
    step_id = path_param(request, "step_id")
    step = await services(request).steps.get(*_ids(request), step_id, include)
    return json_response(step)


_RUN = "/threads/{thread_id}/runs/{run_id}"

routes = [
    Route("/threads/runs", create_thread_and_run, methods=["POST"]),
    Route("/threads/{thread_id}/runs", create, methods=["POST"]),
    Route("/threads/{thread_id}/runs", list_, methods=["GET"]),
    Route(_RUN, retrieve, methods=["GET"]),
    Route(_RUN, modify, methods=["POST"]),
    Route(f"{_RUN}/cancel", cancel, methods=["POST"]),
    Route(f"{_RUN}/submit_tool_outputs", submit_tool_outputs, methods=["POST"]),
    Route(f"{_RUN}/steps", list_steps, methods=["GET"]),
    Route(f"{_RUN}/steps/{{step_id}}", retrieve_step, methods=["GET"]),
]
