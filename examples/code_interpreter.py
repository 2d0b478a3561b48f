"""The code interpreter: the assistant writes Python, the server runs it, the run's steps
show the code and what it printed.

    export OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=key-one
    python examples/code_interpreter.py
"""

from __future__ import annotations

import warnings

from openai import OpenAI

# The SDK marks the Assistants API deprecated (OpenAI retired it); Threadline serves it.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def main() -> None:
    client = OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        instructions="Use the code interpreter for arithmetic.",
        tools=[{"type": "code_interpreter"}],
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is 2 ** 100? Compute it."}]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    print(f"run: {run.status}")
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id, order="asc")
    for step in steps:
        if step.step_details.type != "tool_calls":
            continue
        for call in step.step_details.tool_calls:
            if call.type == "code_interpreter":
                print(f"code: {call.code_interpreter.input}")
                for output in call.code_interpreter.outputs:
                    if output.type == "logs":
                        print(f"output: {output.logs.rstrip()}")
                    else:
                        print(f"image: {output.image.file_id}")
    reply = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data[0]
    for part in reply.content:
        if part.type == "text":
            print(f"answer: {part.text.value.rstrip()}")
    client.beta.threads.delete(thread.id)
    client.beta.assistants.delete(assistant.id)


if __name__ == "__main__":
    main()
