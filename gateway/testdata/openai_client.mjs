// Drives infergate with the official openai npm package, unmodified, the
// way an application would. Run through internal/sdktest by the gateway's
// test (local models) and by cmd/infergate's (a cloud-only server):
//
//   OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 OPENAI_API_KEY=... \
//   CHAT_MODEL=stories260K EMBED_MODEL=all-MiniLM-L6-v2-Q4_K_M node openai_client.mjs
//
// EMBED_MODEL empty: a server without an embedding model, whose embedding
// checks are left out. EXPECT_ROUTE: the X-Infergate-Route chat answers
// carry (default local; cloud:NAME for a cloud-only model).
// Exits non-zero with a message on the first failed check.
import OpenAI from "openai";
import assert from "node:assert/strict";

const chatModel = process.env.CHAT_MODEL;
const embedModel = process.env.EMBED_MODEL || "";
const route = process.env.EXPECT_ROUTE || "local";
const client = new OpenAI({ maxRetries: 0, timeout: 60_000 });
const checks = [];

async function check(name, fn) {
  try {
    await fn();
    checks.push(name);
  } catch (err) {
    console.error(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  }
}

await check("models.list", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(chatModel) && (!embedModel || ids.includes(embedModel)), `models ${ids}`);
  const m = await client.models.retrieve(chatModel);
  assert.equal(m.id, chatModel);
  assert.equal(m.object, "model");
});

await check("chat.completions.create", async () => {
  const r = await client.chat.completions.create({
    model: chatModel,
    messages: [
      { role: "system", content: "You tell stories." },
      { role: "user", content: [{ type: "text", text: "Once upon a time" }] },
    ],
    max_completion_tokens: 8,
    temperature: 0,
  });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 8);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 8);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, "number");
  const { data, response } = await client.chat.completions
    .create({ model: chatModel, messages: [{ role: "user", content: "Hi" }], max_tokens: 2 })
    .withResponse();
  assert.ok(response.headers.get("x-request-id"));
  assert.equal(response.headers.get("x-infergate-route"), route);
  assert.equal(data._request_id, response.headers.get("x-request-id"));
});

await check("chat.completions.create stream", async () => {
  const stream = await client.chat.completions.create({
    model: chatModel,
    messages: [{ role: "user", content: "Once upon a time" }],
    max_tokens: 8,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "", finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks > 2, `chunks ${chunks}`);
  assert.ok(text.length > 0);
  assert.equal(finish, "length");
  assert.ok(usage && usage.completion_tokens === 8, `usage ${JSON.stringify(usage)}`);
});

await check("chat.completions.stream helper", async () => {
  const runner = client.chat.completions.stream({
    model: chatModel,
    messages: [{ role: "user", content: "The dog" }],
    max_tokens: 6,
  });
  let deltas = "";
  runner.on("content", (delta) => { deltas += delta; });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, deltas);
  assert.equal(final.choices[0].finish_reason, "length");
});

await check("chat.completions json_object", async () => {
  const r = await client.chat.completions.create({
    model: chatModel,
    messages: [{ role: "user", content: "Answer in JSON." }],
    response_format: { type: "json_object" },
    max_tokens: 40,
    seed: 3,
  });
  const out = r.choices[0].message.content;
  assert.ok(out.startsWith("{"), out);
  if (r.choices[0].finish_reason === "stop") JSON.parse(out);
});

await check("completions.create", async () => {
  const r = await client.completions.create({ model: chatModel, prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
  assert.equal(r.object, "text_completion");
  assert.ok(r.choices[0].text.length > 0);
  assert.equal(r.usage.completion_tokens, 5);
  const many = await client.completions.create({ model: chatModel, prompt: ["Tom had", "The sun"], max_tokens: 3 });
  assert.equal(many.choices.length, 2);
});

await check("completions.create stream", async () => {
  const stream = await client.completions.create({ model: chatModel, prompt: "The cat", max_tokens: 5, stream: true });
  let text = "", finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(text.length > 0);
  assert.equal(finish, "length");
});

if (embedModel) await check("embeddings.create", async () => {
  // The SDK asks for base64 by default and decodes it itself.
  const r = await client.embeddings.create({ model: embedModel, input: ["The cat sits.", "A cat is sitting."] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 384);
  const norm = Math.sqrt(r.data[0].embedding.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
  assert.ok(r.usage.prompt_tokens > 0);
  const f = await client.embeddings.create({ model: embedModel, input: "The cat sits.", encoding_format: "float", dimensions: 384 });
  const dot = f.data[0].embedding.reduce((s, x, i) => s + x * r.data[0].embedding[i], 0);
  assert.ok(dot > 0.999, `float vs base64 cosine ${dot}`);
});

await check("errors", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
    (err) => err instanceof OpenAI.NotFoundError && err.status === 404 && err.code === "model_not_found",
  );
  await assert.rejects(
    client.chat.completions.create({ model: chatModel, messages: [{ role: "user", content: "x" }], n: 2 }),
    (err) => err instanceof OpenAI.BadRequestError && err.param === "n",
  );
  if (embedModel) {
    await assert.rejects(
      client.embeddings.create({ model: embedModel, input: "x", dimensions: 16 }),
      (err) => err instanceof OpenAI.BadRequestError && err.param === "dimensions",
    );
  }
  const bad = new OpenAI({ apiKey: "sk-wrong", maxRetries: 0 });
  await assert.rejects(
    bad.models.list(),
    (err) => err instanceof OpenAI.AuthenticationError && err.status === 401,
  );
});

console.log(JSON.stringify({ ok: true, checks }));
