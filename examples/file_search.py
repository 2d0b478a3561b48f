"""File search: upload a document into a vector store, ask about it, print the answer
and its citations.

    export OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=key-one
    python examples/file_search.py
"""

from __future__ import annotations

import io
import warnings

from openai import OpenAI

# The SDK marks the Assistants API deprecated (OpenAI retired it); Threadline serves it.
warnings.filterwarnings("ignore", category=DeprecationWarning)

HANDBOOK = b"""Travel policy

Employees may book economy class for flights under six hours.
Hotel stays are reimbursed up to 180 EUR per night in Oslo and 140 EUR elsewhere.
Receipts must be submitted within 30 days of the trip.
"""


def main() -> None:
    client = OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY
    store = client.vector_stores.create(name="handbook")
    batch = client.vector_stores.file_batches.upload_and_poll(
        vector_store_id=store.id, files=[("travel-policy.md", io.BytesIO(HANDBOOK))]
    )
    print(f"indexed: {batch.file_counts.completed} file(s), status {batch.status}")
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        instructions="Answer from the handbook, and cite it.",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "How much is a hotel night in Oslo reimbursed?"}]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    print(f"run: {run.status}")
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id)
    for step in steps:
        if step.step_details.type == "tool_calls":
            print(f"searched: {[call.type for call in step.step_details.tool_calls]}")
    reply = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data[0]
    for part in reply.content:
        if part.type == "text":
            print(f"answer: {part.text.value}")
            for note in part.text.annotations:
                if note.type == "file_citation":
                    print(f"cited: {note.file_citation.file_id}")
    client.beta.threads.delete(thread.id)
    client.beta.assistants.delete(assistant.id)
    client.vector_stores.delete(store.id)


if __name__ == "__main__":
    main()
