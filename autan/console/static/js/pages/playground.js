// Playground: chat with a model, the reply streamed (fetch + server-sent events), with its
// token count, time to first token and tokens per second.
import { api, send } from "../api.js";
import { el, errorBox } from "../dom.js";
import { sseData } from "../sse.js";

// params: `model` preselects a model (the Fine-tuning page's "Open in playground").
export async function render(container, params = new URLSearchParams()) {
  const { data } = await api("GET", "/v1/models");
  const chatModels = data.filter((m) => m.capabilities?.completion_chat !== false);
  const wanted = params.get("model");
  const model = el("select", { id: "pg-model" },
    ...chatModels.map((m) => el("option", { value: m.id, selected: m.id === wanted }, m.id)));
  const system = el("textarea", { id: "pg-system", rows: 2 });
  const temperature = el("input", { id: "pg-temperature", type: "number", min: 0, max: 2, step: 0.1, value: "0.7" });
  const maxTokens = el("input", { id: "pg-max-tokens", type: "number", min: 1, value: "256" });
  const message = el("textarea", { id: "pg-message", rows: 3, required: true });
  const sendButton = el("button", { type: "submit" }, "Send");
  const stop = el("button", { type: "button", hidden: true }, "Stop");
  const clear = el("button", { type: "button" }, "Clear");
  let controller = null;
  const transcript = el("div", { className: "messages", id: "pg-transcript" });
  const history = [];

  clear.addEventListener("click", () => { history.length = 0; transcript.replaceChildren(); });
  // Stopping keeps what arrived so far: the server ends the generation when the stream closes.
  stop.addEventListener("click", () => controller?.abort());

  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      const text = message.value;
      if (!text.trim()) return;
      history.push({ role: "user", content: text });
      transcript.append(el("div", { className: "message user" }, text));
      message.value = "";
      sendButton.disabled = true;
      stop.hidden = false;
      controller = new AbortController();
      try {
        history.push({ role: "assistant", content: await stream() });
      } catch (error) {
        history.pop();
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
    el("label", {}, "Temperature ", temperature),
    el("label", {}, "Max tokens ", maxTokens)),
  el("label", { htmlFor: "pg-system" }, "System prompt"), system,
  transcript,
  el("label", { htmlFor: "pg-message" }, "Message"), message,
  el("p", {}, sendButton, " ", stop, " ", clear));
  container.append(form);

  async function stream() {
    const reply = el("div", { className: "message assistant" });
    const stats = el("div", { className: "stats" });
    transcript.append(reply, stats);
    const messages = system.value.trim()
      ? [{ role: "system", content: system.value }, ...history] : [...history];
    const started = performance.now();
    const response = await send("POST", "/v1/chat/completions", {
      model: model.value,
      messages,
      temperature: Number(temperature.value),
      max_tokens: Number.parseInt(maxTokens.value, 10),
      stream: true,
    }, controller.signal);
    let text = "";
    let firstAt = null;
    let usage = null;
    let pieces = 0;
    let stopped = false;
    try {
      for await (const data of sseData(response)) {
        const chunk = JSON.parse(data);
        if (chunk.usage) usage = chunk.usage;
        const piece = chunk.choices?.[0]?.delta?.content;
        if (typeof piece === "string" && piece) {
          firstAt ??= performance.now();
          pieces += 1;
          text += piece;
          reply.textContent = text;  // text, never markup
        }
      }
    } catch (error) {
      if (error.name !== "AbortError") throw error;
      stopped = true;
    }
    const ended = performance.now();
    const tokens = usage?.completion_tokens ?? pieces;
    const ttft = firstAt === null ? null : firstAt - started;
    const rate = firstAt !== null && ended > firstAt ? (tokens / ((ended - firstAt) / 1000)) : null;
    stats.textContent = `${tokens} tokens · TTFT ${ttft === null ? "–" : `${Math.round(ttft)} ms`}`
      + ` · ${rate === null ? "–" : rate.toFixed(1)} tok/s${stopped ? " · stopped" : ""}`;
    return text;
  }
}
