// Overview: the server's state at a glance (models, memory), what is running now (each loaded
// model's running and queued requests, live batch and fine-tuning jobs), requests, errors,
// latency, tokens and cost over time (the request log summed by the server), and, for an admin
// key, this month's usage.
import uPlot from "../../vendor/uPlot.esm.js";
import { ApiError, api } from "../api.js";
import { el, errorBox, formatBytes, table } from "../dom.js";

const RANGES = {
  hour: { label: "Last 24 hours, by hour", seconds: 3600, count: 24 },
  day: { label: "Last 30 days, by day", seconds: 86400, count: 30 },
};

// Every bucket start (seconds, UTC) of the range ending with the bucket holding `now`.
function bucketStarts(bucket, now = Date.now() / 1000) {
  const { seconds, count } = RANGES[bucket];
  const last = Math.floor(now / seconds) * seconds;
  return Array.from({ length: count }, (_, i) => last - (count - 1 - i) * seconds);
}

function chart(target, title, series, scales, axes, data) {
  const box = el("div", { className: "chart" }, el("h3", {}, title));
  target.append(box);
  const plot = new uPlot({
    width: Math.min(900, target.clientWidth || 900), height: 220, series, scales, axes,
  }, data, box);
  box.plot = plot;  // its data, for whoever inspects the page
  return box;
}

async function showTrends(box, bucket) {
  const stats = await api("GET", `/v1/observability/stats?bucket=${bucket}`);
  const byStart = new Map(stats.data.map((b) => [Math.round(Date.parse(b.start) / 1000), b]));
  const x = bucketStarts(bucket);
  const column = (name, missing = 0) => x.map((t) => byStart.get(t)?.[name] ?? missing);
  const from0 = (u, min, max) => [0, Math.max(1, max)];
  const total = (name) => stats.data.reduce((n, b) => n + b[name], 0);
  box.replaceChildren(el("p", { id: "trend-totals" },
    `${total("requests")} requests (every endpoint), ${total("errors")} errors, `
    + `${total("prompt_tokens") + total("completion_tokens")} tokens, cost ${total("cost").toFixed(4)}`));
  chart(box, "Requests, errors and latency", [
    {},
    { label: "Requests", stroke: "#109618" },
    { label: "Errors", stroke: "#dc3912" },
    { label: "p50 latency (ms)", stroke: "#3366cc", scale: "ms" },
    { label: "p95 latency (ms)", stroke: "#990099", scale: "ms", dash: [6, 4] },
  ], { y: { range: from0 }, ms: { range: from0 } },
  [{}, { label: "requests" }, { side: 1, scale: "ms", label: "ms", grid: { show: false } }],
  [x, column("requests"), column("errors"),
    column("latency_p50_ms", null), column("latency_p95_ms", null)]).id = "trend-requests";
  chart(box, "Tokens and cost", [
    {},
    { label: "Prompt tokens", stroke: "#3366cc" },
    { label: "Completion tokens", stroke: "#ff9900" },
    { label: "Cost", stroke: "#109618", scale: "cost" },
  ], { y: { range: from0 }, cost: { range: (u, min, max) => [0, Math.max(0.0001, max)] } },
  [{}, { label: "tokens" }, { side: 1, scale: "cost", grid: { show: false }, size: 70,
    values: (u, ticks) => ticks.map((t) => t.toFixed(4)) }],
  [x, column("prompt_tokens"), column("completion_tokens"), column("cost")]).id = "trend-tokens";
}

async function jobs(path) {
  try {
    return (await api("GET", path)).data ?? [];
  } catch (error) {
    if (error instanceof ApiError && (error.status === 403 || error.status === 404)) return [];
    throw error;
  }
}

async function showRunning(box, health) {
  const local = health.models.filter((m) => m.state !== "unloaded");
  const [batch, queuedBatch, tuning, queuedTuning] = await Promise.all([
    jobs("/v1/batch/jobs?status=RUNNING"), jobs("/v1/batch/jobs?status=QUEUED"),
    jobs("/v1/fine_tuning/jobs?status=RUNNING"), jobs("/v1/fine_tuning/jobs?status=QUEUED"),
  ]);
  box.replaceChildren(el("h3", {}, "Requests by model"),
    local.length
      ? table(["Model", "State", "Running", "Queued", "Held by requests"], local.map((m) => [
        m.id, m.state, m.running ?? 0, m.waiting ?? 0, m.requests]))
      : el("p", { className: "note" }, "No model is loaded."),
    el("h3", {}, "Batch jobs"),
    batch.length + queuedBatch.length
      ? table(["Job", "Model", "Status", "Done", "Total"], [...batch, ...queuedBatch].map((j) => [
        j.id, j.model ?? "", j.status, j.completed_requests ?? 0, j.total_requests ?? 0]))
      : el("p", { className: "note" }, "No batch job is running or queued."),
    el("h3", {}, "Fine-tuning jobs"),
    tuning.length + queuedTuning.length
      ? table(["Job", "Model", "Status"], [...tuning, ...queuedTuning].map((j) => [
        j.id, j.model ?? "", j.status]))
      : el("p", { className: "note" }, "No fine-tuning job is running or queued."));
}

export async function render(container) {
  const health = await api("GET", "/health");
  const loaded = health.models.filter((m) => m.state === "loaded").length;
  const list = el("ul", { id: "overview-facts" },
    el("li", {}, `Server: ${health.status}`),
    el("li", {}, `Models: ${health.models.length} declared, ${loaded} loaded, `
      + `${(health.deployments ?? []).length} routed deployments`),
    el("li", {}, `Memory of loaded models: ${formatBytes(health.loaded_memory_bytes)}`
      + (health.max_loaded_memory_bytes ? ` of ${formatBytes(health.max_loaded_memory_bytes)}` : "")));
  const running = el("section", { id: "overview-running" });
  const range = el("select", { id: "trend-range" },
    ...Object.entries(RANGES).map(([value, { label }]) => el("option", { value }, label)));
  const trends = el("section", { id: "overview-trends" });
  container.append(list, el("h2", {}, "Running now"), running,
    el("h2", {}, "Over time"), el("label", {}, "Range ", range), trends);
  const showTrendsOrNote = async () => {
    try {
      await showTrends(trends, range.value);
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        trends.replaceChildren(el("p", { className: "note" }, error.message));
      } else {
        trends.replaceChildren(errorBox(error));
      }
    }
  };
  range.addEventListener("change", showTrendsOrNote);
  await Promise.all([showRunning(running, health), showTrendsOrNote()]);
  try {
    // This month to today, by kind, summed by the server.
    const usage = await api("GET", "/v1/admin/usage/summary?group_by=kind");
    const sum = (field, kinds = ["interactive", "batch", "management"]) => usage.data
      .filter((line) => kinds.includes(line.kind)).reduce((n, line) => n + line[field], 0);
    list.append(el("li", {}, `This month: ${sum("requests", ["interactive"])} requests, `
      + `${sum("requests", ["batch"])} batch requests, `
      + `${sum("prompt_tokens")} prompt and ${sum("completion_tokens")} completion tokens, `
      + `${sum("cost").toFixed(4)} ${usage.currency}`));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 403)) throw error;
    list.append(el("li", { className: "note" }, "Usage is shown to admin keys."));
  }
}
