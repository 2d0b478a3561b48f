// Streaming a run with the official Node SDK's AssistantStream helpers.
// Usage: THREADLINE_BASE_URL=http://127.0.0.1:8000/v1 node streaming.mjs
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.THREADLINE_BASE_URL, apiKey: "test-key" });

const assistant = await client.beta.assistants.create({
  model: "fake-model",
  tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }],
});
const thread = await client.beta.threads.create({
  messages: [{ role: "user", content: "streamed from node" }],
});

let text = "";
const events = [];
const stream = client.beta.threads.runs
  .stream(thread.id, { assistant_id: assistant.id })
  .on("textDelta", (delta) => {
    text += delta.value;
  })
  .on("event", (event) => events.push(event.event));
const run = await stream.finalRun();
assert.equal(run.status, "completed");
assert.equal(text, "Echo: streamed from node");
assert.equal(events.at(-1), "thread.run.completed");

// A tool call streamed, then the outputs submitted on a new stream.
await client.beta.threads.messages.create(thread.id, {
  role: "user",
  content: 'call:lookup({"q": "x"})',
});
const first = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
let toolArguments = "";
first.on("toolCallDelta", (delta) => {
  toolArguments += delta.function?.arguments ?? "";
});
const waiting = await first.finalRun();
assert.equal(waiting.status, "requires_action");
assert.deepEqual(JSON.parse(toolArguments), { q: "x" });
const call = waiting.required_action.submit_tool_outputs.tool_calls[0];
const second = client.beta.threads.runs.submitToolOutputsStream(waiting.id, {
  thread_id: thread.id,
  tool_outputs: [{ tool_call_id: call.id, output: "found" }],
});
let answer = "";
second.on("textDelta", (delta) => {
  answer += delta.value;
});
const finished = await second.finalRun();
assert.equal(finished.status, "completed");
assert.equal(answer, "Tool said: found");
console.log("node streaming: ok");
