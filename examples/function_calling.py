"""Function calling: the assistant asks for `get_weather`, the app answers, the run ends.

export OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=key-one
python examples/function_calling.py
"""

from __future__ import annotations

import json
import warnings

from openai import OpenAI
from openai.types.beta import FunctionToolParam
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput

# The SDK marks the Assistants API deprecated (OpenAI retired it); Threadline serves it.
warnings.filterwarnings("ignore", category=DeprecationWarning)

WEATHER_TOOL: FunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def get_weather(city: str) -> str:
    return f"rainy, 7 °C in {city}"


def main() -> None:
    client = OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        instructions="Answer weather questions with the get_weather tool.",
        tools=[WEATHER_TOOL],
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    while run.status == "requires_action" and run.required_action is not None:
        outputs: list[ToolOutput] = []
        for call in run.required_action.submit_tool_outputs.tool_calls:
            arguments = json.loads(call.function.arguments)
            print(f"tool call: {call.function.name}({arguments})")
            outputs.append({"tool_call_id": call.id, "output": get_weather(**arguments)})
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=outputs
        )
    print(f"run: {run.status}")
    for message in client.beta.threads.messages.list(thread_id=thread.id, order="asc"):
        for part in message.content:
            if part.type == "text":
                print(f"{message.role}: {part.text.value}")
    client.beta.threads.delete(thread.id)
    client.beta.assistants.delete(assistant.id)


if __name__ == "__main__":
    main()
