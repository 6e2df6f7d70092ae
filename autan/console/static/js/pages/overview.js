// Overview: the server's state at a glance (models, memory) and, for an admin key, this
// month's usage.
import { ApiError, api } from "../api.js";
import { el, formatBytes } from "../dom.js";

export async function render(container) {
  const health = await api("GET", "/health");
  const loaded = health.models.filter((m) => m.state === "loaded").length;
  const list = el("ul", { id: "overview-facts" },
    el("li", {}, `Server: ${health.status}`),
    el("li", {}, `Models: ${health.models.length} declared, ${loaded} loaded, `
      + `${(health.deployments ?? []).length} routed deployments`),
    el("li", {}, `Memory of loaded models: ${formatBytes(health.loaded_memory_bytes)}`
      + (health.max_loaded_memory_bytes ? ` of ${formatBytes(health.max_loaded_memory_bytes)}` : "")));
  container.append(list);
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
