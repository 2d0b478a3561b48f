// Files, vector stores and a file_search run with the official Node SDK: its multipart
// uploads (`toFile`), its polling helpers, its page iteration and its error classes.
// Usage: THREADLINE_BASE_URL=http://127.0.0.1:8000/v1 node files_and_search.mjs
import assert from "node:assert/strict";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ baseURL: process.env.THREADLINE_BASE_URL, apiKey: "test-key" });
const FACT = "The capital of Norway is Oslo.";

const file = await client.files.create({
  file: await toFile(Buffer.from(FACT), "facts.txt"),
  purpose: "assistants",
});
assert.equal(file.object, "file");
assert.equal(file.filename, "facts.txt");
assert.equal(file.bytes, Buffer.byteLength(FACT));
assert.equal(await (await client.files.content(file.id)).text(), FACT);

const store = await client.vectorStores.create({ name: "node" });
const batch = await client.vectorStores.fileBatches.uploadAndPoll(store.id, {
  files: [await toFile(Buffer.from("Bergen is the rainiest city."), "bergen.txt")],
});
assert.equal(batch.status, "completed");
assert.deepEqual(batch.file_counts, { in_progress: 0, completed: 1, failed: 0, cancelled: 0, total: 1 });
const attached = await client.vectorStores.files.createAndPoll(store.id, { file_id: file.id });
assert.equal(attached.status, "completed");
const names = [];
for await (const entry of client.vectorStores.files.list(store.id, { limit: 1 })) {
  names.push(entry.id);
}
assert.equal(names.length, 2); // two pages of one, followed by the SDK
const found = await client.vectorStores.search(store.id, { query: "capital of Norway" });
assert.ok(found.data.length >= 1);
assert.ok([file.id, ...names].includes(found.data[0].file_id));
assert.equal(found.data[0].content[0].type, "text");

// A message's attachment for file_search puts the file in the thread's own vector store.
const assistant = await client.beta.assistants.create({
  model: "fake-model",
  tools: [{ type: "file_search" }],
});
const thread = await client.beta.threads.create({
  messages: [
    {
      role: "user",
      content: "What is the capital of Norway?",
      attachments: [{ file_id: file.id, tools: [{ type: "file_search" }] }],
    },
  ],
});
assert.equal(thread.tool_resources.file_search.vector_store_ids.length, 1);
const run = await client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id });
assert.equal(run.status, "completed");
const [reply] = (await client.beta.threads.messages.list(thread.id, { run_id: run.id })).data;
assert.equal(reply.role, "assistant");
assert.ok(reply.content[0].text.value.startsWith("Echo: What is the capital of Norway?"));

// The SDK's error classes, from OpenAI's error envelope.
await assert.rejects(client.beta.assistants.retrieve("asst_missing"), (error) => {
  assert.ok(error instanceof OpenAI.NotFoundError);
  assert.equal(error.message, "404 No assistant found with id 'asst_missing'.");
  return true;
});
await assert.rejects(
  client.beta.threads.create({ metadata: { ["k".repeat(65)]: "v" } }),
  (error) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.equal(error.param, "metadata");
    assert.equal(error.code, "string_above_max_length");
    return true;
  },
);

const deleted = await client.files.delete(file.id);
assert.deepEqual(deleted, { id: file.id, object: "file", deleted: true });
console.log("node files and search: ok");
