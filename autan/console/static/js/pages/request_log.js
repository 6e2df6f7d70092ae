// Request log: requests filtered by time range, model, key, status and latency (observability
// search), newest first, 50 a page; one request's timing, tokens, messages and reply when
// chosen.
import { api } from "../api.js";
import { el, errorBox, table } from "../dom.js";

const EVENTS = "/v1/observability/chat-completion-events";
const FIELDS = "/v1/observability/chat-completion-fields";
const COLUMNS = [
  ["created_at", "Time"], ["endpoint", "Endpoint"], ["model", "Model"], ["api_key_id", "Key"],
  ["status", "Status"], ["nb_input_tokens", "Prompt tokens"],
  ["nb_output_tokens", "Completion tokens"], ["latency_ms", "Latency (ms)"],
  ["ttft_ms", "TTFT (ms)"],
];
const STATUSES = [
  ["", "any"], ["ok", "ok (below 400)"], ["error", "error (400 and above)"],
  ...[200, 400, 401, 403, 404, 408, 413, 422, 429, 499, 500, 502, 503, 504]
    .map((s) => [String(s), String(s)]),
];

function shown(name, value) {
  if (value === null || value === undefined) return "";
  if (name.endsWith("_ms")) return Math.round(value);
  if (name === "created_at") return String(value).replace("T", " ").slice(0, 19);
  return value;
}

// A datetime-local input's value (the browser's local time) as ISO 8601 in UTC.
function isoUtc(local) {
  return new Date(local).toISOString();
}

// The search's filters: one condition per filled field, all of them to hold.
function conditions({ from, to, model, key, status, minLatency }) {
  const all = [];
  if (from.value) all.push({ field: "created_at", op: "gte", value: isoUtc(from.value) });
  if (to.value) all.push({ field: "created_at", op: "lt", value: isoUtc(to.value) });
  if (model.value.trim()) all.push({ field: "model", op: "eq", value: model.value.trim() });
  if (key.value.trim()) all.push({ field: "api_key_id", op: "eq", value: key.value.trim() });
  if (status.value === "ok") all.push({ field: "status", op: "lt", value: 400 });
  else if (status.value === "error") all.push({ field: "status", op: "gte", value: 400 });
  else if (status.value) all.push({ field: "status", op: "eq", value: Number(status.value) });
  if (minLatency.value !== "") {
    all.push({ field: "latency_ms", op: "gte", value: Number(minLatency.value) });
  }
  return all.length ? { AND: all } : null;
}

// Suggestions for a field's input, from the values the log holds (most frequent first).
async function suggest(input, field) {
  const list = el("datalist", { id: `${input.id}-options` });
  input.setAttribute("list", list.id);
  try {
    const answer = await api("GET", `${FIELDS}/${field}/options?operator=eq`);
    list.append(...(answer.options ?? []).filter((v) => v !== null)
      .map((value) => el("option", { value: String(value) })));
  } catch {
    // Suggestions only: the input works without them.
  }
  return list;
}

function timing(event) {
  const f = event.extra_fields;
  const total = f.latency_ms;
  const decode = f.ttft_ms !== null && f.ttft_ms !== undefined ? total - f.ttft_ms : null;
  const perSecond = decode && event.nb_output_tokens > 1
    ? ((event.nb_output_tokens - 1) / (decode / 1000)).toFixed(1) : "";
  return table(["", ""], [
    ["Status", `${f.status}${f.error_code ? ` (${f.error_code})` : ""}`],
    ["Queued for an engine slot (ms)", shown("queue_ms", f.queue_ms)],
    ["Time to first token (ms), queueing and prompt included", shown("ttft_ms", f.ttft_ms)],
    ["After the first token (ms)", decode === null ? "" : Math.round(decode)],
    ["Total (ms)", shown("latency_ms", total)],
    ["Prompt tokens", event.nb_input_tokens],
    ["Completion tokens", event.nb_output_tokens],
    ["Completion tokens per second, after the first", perSecond],
    ["Finish reason", f.finish_reason ?? ""],
    ["Streamed", f.stream ? "yes" : "no"],
    ["Cost", f.cost ?? ""],
  ]);
}

export async function render(container) {
  const inputs = {
    from: el("input", { id: "log-from", type: "datetime-local" }),
    to: el("input", { id: "log-to", type: "datetime-local" }),
    model: el("input", { id: "log-model", placeholder: "any", maxLength: 255 }),
    key: el("input", { id: "log-key", placeholder: "any key id", maxLength: 64 }),
    status: el("select", { id: "log-status" },
      ...STATUSES.map(([value, label]) => el("option", { value }, label))),
    minLatency: el("input", {
      id: "log-min-latency", type: "number", min: 0, max: 1e9, step: 1, placeholder: "0",
    }),
  };
  const listBox = el("div", { id: "log-list" });
  const detail = el("div", { id: "log-detail" });
  let cursor = null;
  const more = el("button", { type: "button", hidden: true, onclick: () => load(true) }, "More");

  async function load(next = false) {
    const query = `page_size=50${next && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const answer = await api("POST", `${EVENTS}/search?${query}`, {
      search_params: { filters: conditions(inputs) },
      extra_fields: COLUMNS.map(([name]) => name).filter((n) => !n.startsWith("nb_")),
    });
    const page = answer.completion_events;
    cursor = page.cursor;
    more.hidden = !cursor;
    const rows = page.results.map((event) => [
      ...COLUMNS.map(([name]) => shown(name, event[name] ?? event.extra_fields[name])),
      el("button", { type: "button", onclick: () => open(event.event_id) }, "Open"),
    ]);
    if (next) {
      const found = table([...COLUMNS.map(([, label]) => label), ""], rows);
      listBox.querySelector("tbody").append(...found.querySelector("tbody").children);
    } else if (!rows.length) {
      listBox.replaceChildren(el("p", { className: "note" }, "No request matches."));
    } else {
      listBox.replaceChildren(table([...COLUMNS.map(([, label]) => label), ""], rows));
    }
  }

  async function open(id) {
    try {
      const event = await api("GET", `${EVENTS}/${encodeURIComponent(id)}`);
      const messages = (list) => list.map((m) => el("div", { className: `message ${m.role ?? ""}` },
        `${m.role ?? ""}: `, typeof m.content === "string" ? m.content : JSON.stringify(m.content),
        m.tool_calls ? el("pre", {}, JSON.stringify(m.tool_calls, null, 2)) : null));
      const kept = event.request_messages.length || event.response_messages.length;
      detail.replaceChildren(
        el("h2", {}, `Request ${event.correlation_id}`),
        el("h3", {}, "Timing and tokens"), el("div", { id: "log-timing" }, timing(event)),
        ...(kept ? [
          el("h3", {}, "Messages"),
          el("div", { className: "messages", id: "log-messages" }, ...messages(event.request_messages)),
          el("h3", {}, "Reply"),
          el("div", { className: "messages", id: "log-reply" }, ...messages(event.response_messages)),
        ] : [el("p", { className: "note" }, "This request's bodies are not kept.")]),
        el("h3", {}, "Fields"), el("pre", {}, JSON.stringify(event.extra_fields, null, 2)));
      detail.scrollIntoView();
    } catch (error) {
      detail.replaceChildren(errorBox(error));
    }
  }

  const search = async () => {
    try { await load(); } catch (error) { listBox.replaceChildren(errorBox(error)); }
  };
  const [models, keys] = await Promise.all([
    suggest(inputs.model, "model"), suggest(inputs.key, "api_key_id"),
  ]);
  container.append(
    el("form", {
      id: "log-filters",
      onsubmit: async (event) => { event.preventDefault(); await search(); },
    }, el("div", { className: "row" },
      el("label", {}, "From ", inputs.from), el("label", {}, "To ", inputs.to),
      el("label", {}, "Model ", inputs.model), models,
      el("label", {}, "Key ", inputs.key), keys,
      el("label", {}, "Status ", inputs.status),
      el("label", {}, "Latency at least (ms) ", inputs.minLatency),
      el("button", { type: "submit" }, "Search"))),
    el("p", { className: "note" }, "Times are your browser's; the server keeps them in UTC."),
    listBox, more, detail);
  await load();
}
