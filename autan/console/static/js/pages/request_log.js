// Request log: the newest requests (observability search), and one request's messages and
// reply when chosen.
import { api } from "../api.js";
import { el, errorBox, table } from "../dom.js";

const EVENTS = "/v1/observability/chat-completion-events";
const COLUMNS = [
  ["created_at", "Time"], ["endpoint", "Endpoint"], ["model", "Model"], ["status", "Status"],
  ["nb_input_tokens", "Prompt tokens"], ["nb_output_tokens", "Completion tokens"],
  ["latency_ms", "Latency (ms)"], ["ttft_ms", "TTFT (ms)"],
];

function shown(name, value) {
  if (value === null || value === undefined) return "";
  if (name.endsWith("_ms")) return Math.round(value);
  if (name === "created_at") return String(value).replace("T", " ").slice(0, 19);
  return value;
}

export async function render(container) {
  const model = el("input", { id: "log-model", placeholder: "any" });
  const listBox = el("div", { id: "log-list" });
  const detail = el("div", { id: "log-detail" });
  let cursor = null;
  const more = el("button", { type: "button", hidden: true, onclick: () => load(true) }, "More");

  async function load(next = false) {
    const filters = model.value.trim()
      ? { field: "model", op: "eq", value: model.value.trim() } : null;
    const query = `page_size=50${next && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const answer = await api("POST", `${EVENTS}/search?${query}`, {
      search_params: { filters },
      extra_fields: COLUMNS.map(([name]) => name).filter((n) => !n.startsWith("nb_")),
    });
    const page = answer.completion_events;
    cursor = page.cursor;
    more.hidden = !cursor;
    const rows = page.results.map((event) => [
      ...COLUMNS.map(([name]) => shown(name, event[name] ?? event.extra_fields[name])),
      el("button", { type: "button", onclick: () => open(event.event_id) }, "Open"),
    ]);
    const found = table([...COLUMNS.map(([, label]) => label), ""], rows);
    if (next) listBox.querySelector("tbody").append(...found.querySelector("tbody").children);
    else listBox.replaceChildren(found);
  }

  async function open(id) {
    try {
      const event = await api("GET", `${EVENTS}/${encodeURIComponent(id)}`);
      const messages = (list) => list.map((m) => el("div", { className: `message ${m.role ?? ""}` },
        `${m.role ?? ""}: `, typeof m.content === "string" ? m.content : JSON.stringify(m.content)));
      detail.replaceChildren(
        el("h2", {}, `Request ${event.correlation_id}`),
        el("h3", {}, "Messages"), el("div", { className: "messages" }, ...messages(event.request_messages)),
        el("h3", {}, "Reply"), el("div", { className: "messages" }, ...messages(event.response_messages)),
        event.request_messages.length || event.response_messages.length ? null
          : el("p", { className: "note" }, "This request's bodies are not kept."),
        el("h3", {}, "Fields"), el("pre", {}, JSON.stringify(event.extra_fields, null, 2)));
    } catch (error) {
      detail.replaceChildren(errorBox(error));
    }
  }

  container.append(
    el("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        try { await load(); } catch (error) { listBox.replaceChildren(errorBox(error)); }
      },
    }, el("div", { className: "row" },
      el("label", {}, "Model ", model), el("button", { type: "submit" }, "Search"))),
    listBox, more, detail);
  await load();
}
