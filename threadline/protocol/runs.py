"""Run and run-step wire models and the requests that create and steer runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

from threadline.protocol.common import Metadata, Omittable, RequestModel, WireModel, on_the_wire
from threadline.protocol.messages import CreateMessageRequest
from threadline.protocol.threads import CreateThreadRequest
from threadline.protocol.tools import (
    AssistantTool,
    CodeInterpreterResources,
    FileSearchResources,
    ResponseFormat,
)

__all__ = [
    "CreateRunRequest",
    "CreateThreadAndRunRequest",
    "FunctionCall",
    "LastError",
    "ModifyRunRequest",
    "RequiredAction",
    "Run",
    "RunStatus",
    "RunStep",
    "StepStatus",
    "SubmitToolOutputsRequest",
    "ToolChoice",
    "TruncationStrategy",
    "Usage",
]

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
StepStatus = Literal["in_progress", "cancelled", "failed", "completed", "expired"]
_ENDED = frozenset({"cancelled", "failed", "completed", "incomplete", "expired"})


def _usage_when_ended(
    model: Run | RunStep, handler: SerializerFunctionWrapHandler, info: SerializationInfo
) -> dict[str, Any]:
    """Usage accumulates in the store while a run or step works; on the wire it stays null
    until it has ended."""
    data: dict[str, Any] = handler(model)
    if on_the_wire(info) and model.status not in _ENDED:
        data["usage"] = None
    return data


class TruncationStrategy(RequestModel):
    type: Literal["auto", "last_messages"]
    last_messages: int | None = Field(default=None, ge=1)


class NamedFunction(RequestModel):
    name: str


class NamedToolChoice(RequestModel):
    type: Literal["function", "code_interpreter", "file_search"]
    function: Omittable[NamedFunction] = None


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class Usage(WireModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class FunctionCallSpec(WireModel):
    name: str
    arguments: str


class RequiredToolCall(WireModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallSpec


class SubmitToolOutputsAction(WireModel):
    tool_calls: list[RequiredToolCall]


class RequiredAction(WireModel):
    type: Literal["submit_tool_outputs"] = "submit_tool_outputs"
    submit_tool_outputs: SubmitToolOutputsAction


class LastError(WireModel):
    code: Literal["server_error", "rate_limit_exceeded", "invalid_prompt"]
    message: str


class IncompleteDetails(WireModel):
    reason: Literal["max_completion_tokens", "max_prompt_tokens"]


class Run(WireModel):
    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus
    required_action: RequiredAction | None = None
    last_error: LastError | None = None
    expires_at: int | None
    started_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    incomplete_details: IncompleteDetails | None = None
    model: str
    instructions: str
    tools: list[AssistantTool]
    metadata: dict[str, str] | None
    usage: Usage | None = None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationStrategy | None
    tool_choice: ToolChoice | None
    parallel_tool_calls: bool
    response_format: ResponseFormat | None

    @model_serializer(mode="wrap")
    def _serialize(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        return _usage_when_ended(self, handler, info)


# Run steps


class MessageCreation(WireModel):
    message_id: str


class MessageCreationDetails(WireModel):
    type: Literal["message_creation"] = "message_creation"
    message_creation: MessageCreation


class FunctionCall(WireModel):
    name: str
    arguments: str
    output: str | None = None


class FunctionToolCall(WireModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class LogsOutput(WireModel):
    type: Literal["logs"] = "logs"
    logs: str


class ImageRef(WireModel):
    file_id: str


class ImageOutput(WireModel):
    type: Literal["image"] = "image"
    image: ImageRef


CodeOutput = Annotated[LogsOutput | ImageOutput, Field(discriminator="type")]


class CodeInterpreterCall(WireModel):
    input: str
    outputs: list[CodeOutput] = Field(default_factory=list)


class CodeInterpreterToolCall(WireModel):
    id: str
    type: Literal["code_interpreter"] = "code_interpreter"
    code_interpreter: CodeInterpreterCall


class StepRankingOptions(WireModel):
    ranker: Literal["auto", "default_2024_08_21"] = "default_2024_08_21"
    score_threshold: float = 0.0


class ResultContent(WireModel):
    type: Literal["text"] = "text"
    text: str


class FileSearchResult(WireModel):
    file_id: str
    file_name: str
    score: float
    content: Omittable[list[ResultContent]] = None


class FileSearchCall(WireModel):
    ranking_options: Omittable[StepRankingOptions] = None
    results: list[FileSearchResult] = Field(default_factory=list)


class FileSearchToolCall(WireModel):
    id: str
    type: Literal["file_search"] = "file_search"
    file_search: FileSearchCall


StepToolCall = Annotated[
    CodeInterpreterToolCall | FileSearchToolCall | FunctionToolCall,
    Field(discriminator="type"),
]


class ToolCallsDetails(WireModel):
    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[StepToolCall] = Field(default_factory=list)


StepDetails = Annotated[MessageCreationDetails | ToolCallsDetails, Field(discriminator="type")]


class StepError(WireModel):
    code: Literal["server_error", "rate_limit_exceeded"]
    message: str


class RunStep(WireModel):
    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: StepStatus
    step_details: StepDetails
    last_error: StepError | None = None
    expired_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    metadata: dict[str, str] | None = None
    usage: Usage | None = None

    @model_serializer(mode="wrap")
    def _serialize(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        return _usage_when_ended(self, handler, info)


# Requests


class _RunOverrides(RequestModel):
    model: str | None = None
    instructions: str | None = Field(default=None, max_length=256_000)
    tools: list[AssistantTool] | None = Field(default=None, max_length=20)
    metadata: Metadata = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: bool | None = None
    max_prompt_tokens: int | None = Field(default=None, ge=256)
    max_completion_tokens: int | None = Field(default=None, ge=256)
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class CreateRunRequest(_RunOverrides):
    assistant_id: str
    reasoning_effort: ReasoningEffort | None = None
    additional_instructions: str | None = None
    additional_messages: list[CreateMessageRequest] | None = None


class RunToolResources(RequestModel):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class CreateThreadAndRunRequest(_RunOverrides):
    assistant_id: str
    thread: CreateThreadRequest | None = None
    tool_resources: RunToolResources | None = None


class ToolOutput(RequestModel):
    tool_call_id: str | None = None
    output: str | None = None


class SubmitToolOutputsRequest(RequestModel):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


class ModifyRunRequest(RequestModel):
    metadata: Metadata = None
