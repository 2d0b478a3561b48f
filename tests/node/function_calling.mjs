// The function-calling flow an Assistants app runs, through the official Node SDK.
// Usage: THREADLINE_BASE_URL=http://127.0.0.1:8000/v1 node function_calling.mjs
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.THREADLINE_BASE_URL, apiKey: "test-key" });

const assistant = await client.beta.assistants.create({
  model: "fake-model",
  instructions: "Use the weather tool.",
  tools: [
    {
      type: "function",
      function: {
        name: "get_weather",
        parameters: { type: "object", properties: { city: { type: "string" } } },
      },
    },
  ],
});
const thread = await client.beta.threads.create({
  messages: [{ role: "user", content: 'Weather? call:get_weather({"city": "Oslo"})' }],
});

let run = await client.beta.threads.runs.createAndPoll(
  thread.id,
  { assistant_id: assistant.id },
  { pollIntervalMs: 50 },
);
assert.equal(run.status, "requires_action");
const calls = run.required_action.submit_tool_outputs.tool_calls;
assert.equal(calls.length, 1);
assert.equal(calls[0].function.name, "get_weather");
assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: "Oslo" });
assert.match(calls[0].id, /^call_/);

run = await client.beta.threads.runs.submitToolOutputsAndPoll(
  run.id,
  { thread_id: thread.id, tool_outputs: [{ tool_call_id: calls[0].id, output: "rainy" }] },
  { pollIntervalMs: 50 },
);
assert.equal(run.status, "completed");
assert.ok(run.usage.total_tokens > 0);

const messages = await client.beta.threads.messages.list(thread.id, { order: "asc" });
const last = messages.data.at(-1);
assert.equal(last.role, "assistant");
assert.equal(last.content[0].text.value, "Tool said: rainy");

const steps = await client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id, order: "asc" });
assert.deepEqual(
  steps.data.map((step) => [step.type, step.status]),
  [
    ["tool_calls", "completed"],
    ["message_creation", "completed"],
  ],
);
assert.equal(steps.data[0].step_details.tool_calls[0].function.output, "rainy");
console.log("node function calling: ok");
