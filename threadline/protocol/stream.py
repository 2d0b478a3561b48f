"""Delta objects carried by stream events (`thread.message.delta`, `thread.run.step.delta`)."""

from __future__ import annotations

from typing import Any, Literal

from threadline.protocol.common import WireModel

__all__ = ["MessageDelta", "RunStepDelta", "StreamError"]


class MessageDelta(WireModel):
    id: str
    object: Literal["thread.message.delta"] = "thread.message.delta"
    delta: dict[str, Any]

    @classmethod
    def text(cls, message_id: str, value: str, index: int = 0) -> MessageDelta:
        part = {"index": index, "type": "text", "text": {"value": value, "annotations": []}}
        # Built for every streamed chunk, from values that are valid by construction.
        return cls.model_construct(id=message_id, delta={"content": [part]})


class RunStepDelta(WireModel):
    id: str
    object: Literal["thread.run.step.delta"] = "thread.run.step.delta"
    delta: dict[str, Any]

    @classmethod
    def tool_calls(cls, step_id: str, calls: list[dict[str, Any]]) -> RunStepDelta:
        return cls(id=step_id, delta={"step_details": {"type": "tool_calls", "tool_calls": calls}})


class StreamError(WireModel):
    """The data of an `error` event. The SDKs raise on `{"error": {...}}`; the spec's
    `ErrorEvent` documents the bare error object. This carries both."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None
    error: dict[str, Any]

    @classmethod
    def of(cls, message: str, error_type: str = "server_error") -> StreamError:
        fields = {"message": message, "type": error_type, "param": None, "code": None}
        return cls(**fields, error=dict(fields))
