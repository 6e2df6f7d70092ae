// Models: what /v1/models lists, with /health's view of each (loaded state, memory, engine
// counters) and the routed deployments with their health.
import { api } from "../api.js";
import { el, formatBytes, table } from "../dom.js";

export async function render(container) {
  const [models, health] = await Promise.all([api("GET", "/v1/models"), api("GET", "/health")]);
  const byId = new Map(health.models.map((m) => [m.id, m]));
  container.append(
    el("p", { id: "memory" },
      `Loaded: ${formatBytes(health.loaded_memory_bytes)} of `
      + `${health.max_loaded_memory_bytes ? formatBytes(health.max_loaded_memory_bytes) : "no limit"}`),
    el("h2", {}, "Models"),
    table(["Model", "Owner", "State", "Memory", "Context", "Requests", "Aliases"],
      models.data.map((model) => {
        const local = byId.get(model.id);
        return [
          model.id, model.owned_by ?? "",
          local ? local.state : "routed",
          local ? formatBytes(local.memory_bytes) : "",
          local?.context ?? model.max_context_length ?? "",
          local ? local.requests : "",
          (model.aliases ?? []).join(", "),
        ];
      })));
  const deployments = health.deployments ?? [];
  container.append(el("h2", {}, "Routed deployments"));
  if (!deployments.length) {
    container.append(el("p", { className: "note" }, "No routed deployments."));
    return;
  }
  const columns = [...new Set(deployments.flatMap((d) => Object.keys(d)))];
  container.append(table(columns, deployments.map((d) => columns.map((c) => {
    const value = d[c];
    return value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : value;
  }))));
}
