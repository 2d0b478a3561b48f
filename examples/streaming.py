"""Streaming with an event handler: text as it arrives, and a function call answered
mid-stream with `submit_tool_outputs_stream`.

    export OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=key-one
    python examples/streaming.py
"""

from __future__ import annotations

import json
import warnings

from openai import AssistantEventHandler, OpenAI
from openai.types.beta import AssistantStreamEvent, FunctionToolParam
from openai.types.beta.threads import Run, Text, TextDelta
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput
from openai.types.beta.threads.runs import ToolCall

# The SDK marks the Assistants API deprecated (OpenAI retired it); Threadline serves it.
warnings.filterwarnings("ignore", category=DeprecationWarning)

client = OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY

TIME_TOOL: FunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The current time in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class Printer(AssistantEventHandler):
    """Prints text deltas as they come; answers `get_time` when the run asks for it."""

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        print(delta.value or "", end="", flush=True)

    def on_text_done(self, text: Text) -> None:
        print()

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        print(f"[tool call: {tool_call.type}]")

    def on_event(self, event: AssistantStreamEvent) -> None:
        if event.event == "thread.run.requires_action":
            self.answer(event.data)
        elif event.event == "thread.run.completed":
            print(f"[run {event.data.status}]")

    def answer(self, run: Run) -> None:
        if run.required_action is None:
            return
        outputs: list[ToolOutput] = []
        for call in run.required_action.submit_tool_outputs.tool_calls:
            city = json.loads(call.function.arguments).get("city", "?")
            outputs.append({"tool_call_id": call.id, "output": f"09:41 in {city}"})
        with client.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=run.thread_id, run_id=run.id, tool_outputs=outputs, event_handler=Printer()
        ) as stream:
            stream.until_done()


def main() -> None:
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        instructions="Be brief. Use get_time for the time.",
        tools=[TIME_TOOL],
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What time is it in Lima?"}]
    )
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=Printer()
    ) as stream:
        stream.until_done()
    client.beta.threads.delete(thread.id)
    client.beta.assistants.delete(assistant.id)


if __name__ == "__main__":
    main()
