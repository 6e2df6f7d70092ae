// Playground: chat with a model, the reply streamed (fetch + server-sent events), with its
// token count, time to first token and tokens per second. Tools (with tool_choice) and a
// response format (JSON object or JSON schema) go with the request; tool calls and parsed JSON
// are shown apart from the text. FIM mode for models whose card says they do fill-in-the-
// middle. "View code" shows the exact request for the mistralai and openai SDKs and curl.
import { send, api } from "../api.js";
import { el, errorBox } from "../dom.js";
import { curlCode, mistralaiCode, openaiCode } from "../request_code.js";
import { sseData } from "../sse.js";

const CHAT_PATH = "/v1/chat/completions";
const FIM_PATH = "/v1/fim/completions";
const TOOLS_EXAMPLE = JSON.stringify([{
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
    },
  },
}], null, 2);
const SCHEMA_EXAMPLE = JSON.stringify({
  type: "object",
  properties: { answer: { type: "string" } },
  required: ["answer"],
}, null, 2);

// The JSON in a textarea, or an Error naming the field.
function parseJson(textarea, what) {
  try {
    return JSON.parse(textarea.value);
  } catch (error) {
    throw new Error(`${what} is not valid JSON: ${error.message}`);
  }
}

// params: `model` preselects a model (the Fine-tuning page's "Open in playground").
export async function render(container, params = new URLSearchParams()) {
  const { data } = await api("GET", "/v1/models");
  const chatModels = data.filter((m) => m.capabilities?.completion_chat !== false);
  const wanted = params.get("model");
  const model = el("select", { id: "pg-model" },
    ...chatModels.map((m) => el("option", { value: m.id, selected: m.id === wanted }, m.id)));
  const fimCapable = new Set(data.filter((m) => m.capabilities?.completion_fim).map((m) => m.id));
  const mode = el("select", { id: "pg-mode" },
    el("option", { value: "chat" }, "Chat"), el("option", { value: "fim" }, "FIM (fill in the middle)"));
  const system = el("textarea", { id: "pg-system", rows: 2 });
  const temperature = el("input", { id: "pg-temperature", type: "number", min: 0, max: 1.5, step: 0.1, value: "0.7" });
  const maxTokens = el("input", { id: "pg-max-tokens", type: "number", min: 1, value: "256" });
  const message = el("textarea", { id: "pg-message", rows: 3 });
  const suffix = el("textarea", { id: "pg-suffix", rows: 3 });
  const tools = el("textarea", { id: "pg-tools", rows: 8, placeholder: TOOLS_EXAMPLE, spellcheck: false });
  const toolChoice = el("select", { id: "pg-tool-choice" });
  const format = el("select", { id: "pg-format" },
    ...["text", "json_object", "json_schema"].map((f) => el("option", { value: f }, f)));
  const schema = el("textarea", { id: "pg-schema", rows: 8, spellcheck: false, value: SCHEMA_EXAMPLE });
  const sendButton = el("button", { type: "submit" }, "Send");
  const stop = el("button", { type: "button", hidden: true }, "Stop");
  const clear = el("button", { type: "button" }, "Clear");
  const viewCode = el("button", { type: "button", id: "pg-view-code" }, "View code");
  const codeBox = el("div", { id: "pg-code", hidden: true });
  const problem = el("div", { id: "pg-problem" });
  let controller = null;
  const transcript = el("div", { className: "messages", id: "pg-transcript" });
  const history = [];

  // tool_choice: the four modes, then one entry per named function in the tools editor.
  function refreshToolChoices() {
    const current = toolChoice.value;
    let names = [];
    try {
      const parsed = JSON.parse(tools.value || "[]");
      if (Array.isArray(parsed)) names = parsed.map((t) => t?.function?.name).filter((n) => typeof n === "string");
    } catch { /* shown when sending */ }
    toolChoice.replaceChildren(
      ...["auto", "any", "required", "none"].map((c) => el("option", { value: c }, c)),
      ...names.map((n) => el("option", { value: `function:${n}` }, `function: ${n}`)));
    if ([...toolChoice.options].some((o) => o.value === current)) toolChoice.value = current;
  }
  tools.addEventListener("input", refreshToolChoices);
  refreshToolChoices();

  const chatFields = el("div", { id: "pg-chat-fields" },
    el("label", { htmlFor: "pg-system" }, "System prompt"), system,
    el("details", { id: "pg-tools-box" }, el("summary", {}, "Tools"),
      el("label", { htmlFor: "pg-tools" }, "Tools (a JSON array of functions; empty: none)"), tools,
      el("label", {}, "Tool choice ", toolChoice)),
    el("details", { id: "pg-format-box" }, el("summary", {}, "Response format"),
      el("label", {}, "Format ", format),
      el("label", { htmlFor: "pg-schema" }, "JSON schema (for json_schema)"), schema));
  const suffixField = el("div", { id: "pg-suffix-field", hidden: true },
    el("label", { htmlFor: "pg-suffix" }, "Suffix (the code after the gap)"), suffix);
  const messageLabel = el("label", { htmlFor: "pg-message" }, "Message");

  function refreshMode() {
    const fimAllowed = fimCapable.has(model.value);
    mode.options[1].disabled = !fimAllowed;
    if (!fimAllowed) mode.value = "chat";
    const fim = mode.value === "fim";
    chatFields.hidden = fim;
    suffixField.hidden = !fim;
    messageLabel.textContent = fim ? "Prompt (the code before the gap)" : "Message";
  }
  model.addEventListener("change", refreshMode);
  mode.addEventListener("change", refreshMode);
  refreshMode();

  // The request the form describes, with `text` as the next user message (or FIM prompt).
  function request(text) {
    const common = {
      model: model.value,
      temperature: Number(temperature.value),
      max_tokens: Number.parseInt(maxTokens.value, 10),
    };
    if (mode.value === "fim") {
      return [FIM_PATH, { model: common.model, prompt: text, suffix: suffix.value,
        temperature: common.temperature, max_tokens: common.max_tokens, stream: true }];
    }
    const messages = [...(system.value.trim() ? [{ role: "system", content: system.value }] : []),
      ...history, ...(text ? [{ role: "user", content: text }] : [])];
    const body = { model: common.model, messages, temperature: common.temperature,
      max_tokens: common.max_tokens };
    if (tools.value.trim()) {
      const parsed = parseJson(tools, "Tools");
      if (!Array.isArray(parsed)) throw new Error("Tools must be a JSON array");
      body.tools = parsed;
      body.tool_choice = toolChoice.value.startsWith("function:")
        ? { type: "function", function: { name: toolChoice.value.slice("function:".length) } }
        : toolChoice.value;
    }
    if (format.value === "json_object") body.response_format = { type: "json_object" };
    if (format.value === "json_schema") {
      body.response_format = { type: "json_schema",
        json_schema: { name: "response", schema: parseJson(schema, "The JSON schema"), strict: true } };
    }
    body.stream = true;
    return [CHAT_PATH, body];
  }

  clear.addEventListener("click", () => { history.length = 0; transcript.replaceChildren(); });
  // Stopping keeps what arrived so far: the server ends the generation when the stream closes.
  stop.addEventListener("click", () => controller?.abort());
  viewCode.addEventListener("click", () => {
    if (!codeBox.hidden) { codeBox.hidden = true; return; }
    let path, body;
    try {
      [path, body] = request(message.value);
    } catch (error) {
      problem.replaceChildren(errorBox(error));
      return;
    }
    problem.replaceChildren();
    const origin = location.origin;
    codeBox.replaceChildren(
      el("h3", {}, "Python (mistralai)"), el("pre", { id: "pg-code-mistralai" }, mistralaiCode(origin, path, body)),
      el("h3", {}, "Python (openai)"), el("pre", { id: "pg-code-openai" }, openaiCode(origin, path, body)),
      el("h3", {}, "curl"), el("pre", { id: "pg-code-curl" }, curlCode(origin, path, body)));
    codeBox.hidden = false;
  });

  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      const text = message.value;
      if (!text.trim() && mode.value === "chat") return;
      let path, body;
      try {
        [path, body] = request(text);
      } catch (error) {
        problem.replaceChildren(errorBox(error));
        return;
      }
      problem.replaceChildren();
      codeBox.hidden = true;
      const fim = path === FIM_PATH;
      if (!fim) history.push({ role: "user", content: text });
      transcript.append(el("div", { className: "message user" }, text));
      message.value = "";
      sendButton.disabled = true;
      stop.hidden = false;
      controller = new AbortController();
      try {
        const reply = await stream(path, body);
        // Tool calls are shown, not kept: the next turn would need the tools' results.
        if (!fim && !reply.toolCalls.length) history.push({ role: "assistant", content: reply.text });
        else if (!fim) history.pop();
      } catch (error) {
        if (!fim) history.pop();
        transcript.append(errorBox(error));
      } finally {
        sendButton.disabled = false;
        stop.hidden = true;
        controller = null;
      }
    },
  },
  el("div", { className: "row" },
    el("label", {}, "Model ", model),
    el("label", {}, "Mode ", mode),
    el("label", {}, "Temperature ", temperature),
    el("label", {}, "Max tokens ", maxTokens)),
  chatFields,
  transcript,
  messageLabel, message, suffixField,
  problem,
  el("p", {}, sendButton, " ", stop, " ", clear, " ", viewCode),
  codeBox);
  container.append(form);

  async function stream(path, body) {
    const reply = el("div", { className: "message assistant" });
    const calls = el("div", { className: "tool-calls" });
    const parsed = el("div", { className: "parsed-json" });
    const stats = el("div", { className: "stats" });
    transcript.append(reply, calls, parsed, stats);
    const started = performance.now();
    const response = await send("POST", path, body, controller.signal);
    let text = "";
    let firstAt = null;
    let usage = null;
    let pieces = 0;
    let stopped = false;
    const toolCalls = [];  // by index: {id, name, arguments}
    try {
      for await (const data of sseData(response)) {
        const chunk = JSON.parse(data);
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices?.[0]?.delta ?? {};
        const piece = delta.content;
        if (typeof piece === "string" && piece) {
          firstAt ??= performance.now();
          pieces += 1;
          text += piece;
          reply.textContent = text;  // text, never markup
        }
        for (const [i, call] of (delta.tool_calls ?? []).entries()) {
          firstAt ??= performance.now();
          const index = call.index ?? i;
          const seen = toolCalls[index] ??= { id: "", name: "", arguments: "" };
          seen.id = call.id ?? seen.id;
          seen.name += call.function?.name ?? "";
          const args = call.function?.arguments;
          seen.arguments += typeof args === "string" ? args : args ? JSON.stringify(args) : "";
        }
        if (toolCalls.length) showToolCalls(calls, toolCalls);
      }
    } catch (error) {
      if (error.name !== "AbortError") throw error;
      stopped = true;
    }
    if (body.response_format && body.response_format.type !== "text" && !stopped) showParsed(parsed, text);
    const ended = performance.now();
    const tokens = usage?.completion_tokens ?? pieces;
    const ttft = firstAt === null ? null : firstAt - started;
    const rate = firstAt !== null && ended > firstAt ? (tokens / ((ended - firstAt) / 1000)) : null;
    stats.textContent = `${tokens} tokens · TTFT ${ttft === null ? "–" : `${Math.round(ttft)} ms`}`
      + ` · ${rate === null ? "–" : rate.toFixed(1)} tok/s${stopped ? " · stopped" : ""}`;
    return { text, toolCalls };
  }
}

function showToolCalls(box, toolCalls) {
  box.replaceChildren(...toolCalls.filter(Boolean).map((call) => {
    let args = call.arguments;
    try { args = JSON.stringify(JSON.parse(call.arguments), null, 2); } catch { /* as it came */ }
    return el("div", { className: "tool-call" },
      el("div", { className: "tool-call-name" }, `Tool call ${call.id}: ${call.name}`),
      el("pre", { className: "tool-call-arguments" }, args));
  }));
}

function showParsed(box, text) {
  try {
    const value = JSON.parse(text);
    box.replaceChildren(el("div", {}, "Parsed JSON"), el("pre", {}, JSON.stringify(value, null, 2)));
  } catch (error) {
    box.replaceChildren(errorBox(`The reply is not valid JSON: ${error.message}`));
  }
}
