"""Checking submitted tool outputs against a run's required action, and recording them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from threadline.errors import InvalidRequestError
from threadline.protocol.runs import FunctionToolCall, Run, RunStep, ToolOutput

__all__ = ["apply_outputs", "check_outputs", "pending_step"]


def check_outputs(run: Run, outputs: Sequence[ToolOutput]) -> list[str]:
    """The call ids the run waits for; raises OpenAI's 400 unless `outputs` answer
    exactly those calls of a run in requires_action."""
    if run.status != "requires_action" or run.required_action is None:
        raise InvalidRequestError(f'Runs in status "{run.status}" do not accept tool outputs.')
    expected = [call.id for call in run.required_action.submit_tool_outputs.tool_calls]
    given = [output.tool_call_id for output in outputs]
    if any(call_id is None for call_id in given):
        raise InvalidRequestError(
            "Missing required parameter: 'tool_outputs[].tool_call_id'.",
            param="tool_outputs",
            code="missing_required_parameter",
        )
    if sorted(expected) != sorted(str(call_id) for call_id in given):
        raise InvalidRequestError(
            f"Expected tool outputs for call_ids {expected}, got {given}.",
            param="tool_outputs",
        )
    return expected


def pending_step(steps: Sequence[RunStep], call_ids: Sequence[str]) -> RunStep | None:
    """The in-progress tool_calls step holding the calls that wait for outputs."""
    wanted = set(call_ids)
    for step in reversed(steps):
        if step.status != "in_progress" or step.step_details.type != "tool_calls":
            continue
        if wanted & {call.id for call in step.step_details.tool_calls}:
            return step
    return None


def apply_outputs(step: RunStep, outputs: Mapping[str, str]) -> RunStep:
    """The step with each function call's output filled in from `outputs`."""
    details = step.step_details
    if details.type != "tool_calls":
        return step
    calls = [
        call.model_copy(
            update={"function": call.function.model_copy(update={"output": outputs[call.id]})}
        )
        if isinstance(call, FunctionToolCall) and call.id in outputs
        else call
        for call in details.tool_calls
    ]
    return step.model_copy(
        update={"step_details": details.model_copy(update={"tool_calls": calls})}
    )
