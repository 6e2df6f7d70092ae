// The JavaScript clients of the Mistral API, unchanged, against a running autan server.
//
//   node tests/js/clients.mjs <client>:<scenario> <server url>
//
// prints one JSON object: what the client returned, for tests/integration/test_js_clients.py
// to check. <client> is `mistralai` (the official TypeScript SDK) or `ai` (the Vercel AI SDK
// with its Mistral provider). A client that throws makes the process exit non-zero.

import { Mistral } from "@mistralai/mistralai";
import { MistralError } from "@mistralai/mistralai/models/errors";
import { createMistral } from "@ai-sdk/mistral";
import { APICallError, embedMany, generateText, Output, streamText, tool } from "ai";
import { z } from "zod";

const [scenario, url] = process.argv.slice(2);
const MODEL = "mistral-small-latest";
const HELLO = [{ role: "user", content: "Say hello in one short sentence." }];
const WEATHER_PROMPT = "What is the weather in Paris?";
const CITY = {
  type: "object",
  properties: { city: { type: "string", maxLength: 12 } },
  required: ["city"],
  additionalProperties: false,
};
const ANSWER = {
  type: "object",
  properties: { answer: { type: "string", maxLength: 20 }, sure: { type: "boolean" } },
  required: ["answer", "sure"],
  additionalProperties: false,
};

const sdk = () => new Mistral({ apiKey: "any-key", serverURL: url });
const provider = () => createMistral({ apiKey: "any-key", baseURL: `${url}/v1` });
const weatherTool = () =>
  tool({
    description: "Weather in a city",
    inputSchema: z.object({ city: z.string().max(12) }),
  });

const SDK_TOOLS = [
  {
    type: "function",
    function: { name: "get_weather", description: "Weather in a city", parameters: CITY },
  },
];

// One forced call, asked for whole and streamed alike.
const FORCED_CALL = {
  model: MODEL,
  messages: [{ role: "user", content: WEATHER_PROMPT }],
  tools: SDK_TOOLS,
  toolChoice: "any",
  parallelToolCalls: false,
  maxTokens: 64,
  temperature: 0,
};

const scenarios = {
  async "mistralai:chat"() {
    const r = await sdk().chat.complete({ model: MODEL, messages: HELLO, maxTokens: 16 });
    const choice = r.choices[0];
    return { content: choice.message.content, finish: choice.finishReason, usage: r.usage };
  },

  async "mistralai:stream"() {
    const args = { model: MODEL, messages: HELLO, maxTokens: 16, temperature: 0 };
    const client = sdk();
    const full = (await client.chat.complete(args)).choices[0].message.content;
    const events = [];
    for await (const event of await client.chat.stream(args)) events.push(event.data);
    const last = events.at(-1);
    return {
      full,
      text: events.map((e) => e.choices[0].delta.content ?? "").join(""),
      firstRole: events[0].choices[0].delta.role,
      finishes: events.map((e) => e.choices[0].finishReason ?? null),
      usage: last.usage,
    };
  },

  async "mistralai:tools"() {
    const r = await sdk().chat.complete(FORCED_CALL);
    const choice = r.choices[0];
    return {
      finish: choice.finishReason,
      content: choice.message.content,
      calls: (choice.message.toolCalls ?? []).map((c) => ({
        id: c.id,
        name: c.function.name,
        arguments: c.function.arguments,
      })),
    };
  },

  async "mistralai:tools-stream"() {
    const stream = await sdk().chat.stream(FORCED_CALL);
    const calls = [];
    let content = "";
    let finish = null;
    for await (const event of stream) {
      const choice = event.data.choices[0];
      content += choice.delta.content ?? "";
      for (const c of choice.delta.toolCalls ?? []) {
        calls.push({ id: c.id, name: c.function.name, arguments: c.function.arguments });
      }
      finish = choice.finishReason ?? finish;
    }
    return { finish, content, calls };
  },

  async "mistralai:json-schema"() {
    const r = await sdk().chat.complete({
      model: MODEL,
      messages: [{ role: "user", content: "Is the sky blue? Answer in JSON." }],
      responseFormat: {
        type: "json_schema",
        jsonSchema: { name: "answer", schemaDefinition: ANSWER, strict: true },
      },
      maxTokens: 64,
    });
    return { content: r.choices[0].message.content, finish: r.choices[0].finishReason };
  },

  async "mistralai:embeddings"() {
    const r = await sdk().embeddings.create({ model: "mistral-embed", inputs: ["cat", "dog"] });
    return { dims: r.data.map((d) => d.embedding.length), usage: r.usage };
  },

  async "mistralai:error"() {
    try {
      await sdk().chat.complete({ model: "no-such-model", messages: HELLO });
    } catch (e) {
      return {
        typed: e instanceof MistralError,
        name: e.constructor.name,
        status: e.statusCode,
        body: JSON.parse(e.body),
      };
    }
    throw new Error("an unknown model was answered");
  },

  async "ai:chat"() {
    const r = await generateText({
      model: provider()(MODEL),
      prompt: HELLO[0].content,
      maxOutputTokens: 16,
    });
    return { content: r.text, finish: r.finishReason, usage: r.usage };
  },

  async "ai:stream"() {
    const args = { model: provider()(MODEL), prompt: HELLO[0].content, maxOutputTokens: 16 };
    const full = (await generateText({ ...args, temperature: 0 })).text;
    const errors = [];
    const onError = ({ error }) => errors.push(String(error));
    const result = streamText({ ...args, temperature: 0, onError });
    const pieces = [];
    for await (const piece of result.textStream) pieces.push(piece);
    return {
      full,
      text: pieces.join(""),
      pieces: pieces.length,
      finish: await result.finishReason,
      usage: await result.usage,
      errors,
    };
  },

  async "ai:tools"() {
    const r = await generateText({
      model: provider()(MODEL),
      prompt: WEATHER_PROMPT,
      tools: { get_weather: weatherTool() },
      toolChoice: "required",
      providerOptions: { mistral: { parallelToolCalls: false } },
      maxOutputTokens: 64,
      temperature: 0,
    });
    return {
      finish: r.finishReason,
      content: r.text,
      calls: r.toolCalls.map((c) => ({ id: c.toolCallId, name: c.toolName, input: c.input })),
    };
  },

  async "ai:tools-stream"() {
    const errors = [];
    const result = streamText({
      model: provider()(MODEL),
      prompt: WEATHER_PROMPT,
      tools: { get_weather: weatherTool() },
      toolChoice: "required",
      providerOptions: { mistral: { parallelToolCalls: false } },
      maxOutputTokens: 64,
      temperature: 0,
      onError: ({ error }) => errors.push(String(error)),
    });
    for await (const _ of result.fullStream);
    const calls = await result.toolCalls;
    return {
      finish: await result.finishReason,
      content: await result.text,
      calls: calls.map((c) => ({ id: c.toolCallId, name: c.toolName, input: c.input })),
      errors,
    };
  },

  async "ai:json-schema"() {
    const r = await generateText({
      model: provider()(MODEL),
      prompt: "Is the sky blue? Answer in JSON.",
      output: Output.object({
        schema: z.object({ answer: z.string().max(20), sure: z.boolean() }),
      }),
      maxOutputTokens: 64,
    });
    return { object: r.output, finish: r.finishReason };
  },

  async "ai:embeddings"() {
    const r = await embedMany({
      model: provider().textEmbeddingModel("mistral-embed"),
      values: ["cat", "dog"],
    });
    return { dims: r.embeddings.map((e) => e.length), usage: r.usage };
  },

  async "ai:error"() {
    try {
      await generateText({ model: provider()("no-such-model"), prompt: "hi", maxRetries: 0 });
    } catch (e) {
      return {
        typed: APICallError.isInstance(e),
        name: e.constructor.name,
        status: e.statusCode,
        message: e.message,
      };
    }
    throw new Error("an unknown model was answered");
  },
};

if (!(scenario in scenarios)) {
  console.error(`unknown scenario ${scenario}; one of: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
console.log(JSON.stringify(await scenarios[scenario]()));
