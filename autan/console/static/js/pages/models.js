// Models: what /v1/models lists, with /health's view of each (loaded state, memory, engine
// counters), its capabilities and prices, Load and Unload buttons (admin keys), and the routed
// deployments with their health.
import { ApiError, api } from "../api.js";
import { el, errorBox, formatBytes, table } from "../dom.js";

const CAPABILITIES = [
  ["completion_chat", "chat"], ["completion_fim", "FIM"], ["function_calling", "tools"],
  ["vision", "vision"], ["fine_tuning", "fine-tuning"], ["classification", "classification"],
  ["reasoning", "reasoning"],
];

function capabilities(model) {
  const have = model.capabilities ?? {};
  return CAPABILITIES.filter(([name]) => have[name]).map(([, label]) => label).join(", ");
}

async function prices() {
  try {
    return await api("GET", "/v1/admin/prices");
  } catch (error) {
    // Servers without keys (--no-auth) price nothing.
    if (error instanceof ApiError && [401, 403, 404].includes(error.status)) return null;
    throw error;
  }
}

export async function render(container) {
  const message = el("div", { id: "models-message" });
  const body = el("div", { id: "models-body" });
  container.append(message, body);

  async function act(action, id) {
    message.replaceChildren(el("p", { className: "note" },
      `${action === "load" ? "Loading" : "Unloading"} ${id}…`));
    try {
      const state = await api("POST", `/v1/admin/models/${encodeURIComponent(id)}/${action}`);
      await draw();
      message.replaceChildren(el("p", { className: "note" }, `${state.id} is ${state.state}.`));
    } catch (error) {
      message.replaceChildren(errorBox(error));
    }
  }

  const buttons = (local) => {
    if (!local) return "";
    return el("span", {},
      el("button", {
        type: "button", disabled: local.state !== "unloaded", onclick: () => act("load", local.id),
      }, "Load"),
      " ",
      el("button", {
        type: "button", disabled: local.state !== "loaded", onclick: () => act("unload", local.id),
      }, "Unload"));
  };

  async function draw() {
    const [models, health, priced] = await Promise.all([
      api("GET", "/v1/models"), api("GET", "/health"), prices(),
    ]);
    body.replaceChildren();
    drawTables(body, { models, health, priced, buttons });
  }
  await draw();
}

function drawTables(container, { models, health, priced, buttons }) {
  const byId = new Map(health.models.map((m) => [m.id, m]));
  const priceOf = new Map((priced?.data ?? []).map((p) => [p.model, p]));
  const perMillion = (value) => `${priced.currency_symbol}${value}`;
  container.append(
    el("p", { id: "memory" },
      `Loaded: ${formatBytes(health.loaded_memory_bytes)} of `
      + `${health.max_loaded_memory_bytes ? formatBytes(health.max_loaded_memory_bytes) : "no limit"}`),
    el("h2", {}, "Models"),
    table(["Model", "Owner", "State", "Memory", "Context", "Requests", "Capabilities",
      "Input per M tokens", "Output per M tokens", "Aliases", ""],
    models.data.map((model) => {
      const local = byId.get(model.id);
      const price = priceOf.get(model.id);
      const embeds = health.embeddings?.id === model.id;
      return [
        model.id, model.owned_by ?? "",
        local ? local.state : embeds ? "embeddings" : "routed",
        local ? formatBytes(local.memory_bytes) : "",
        local?.context ?? model.max_context_length ?? "",
        local ? local.requests : "",
        embeds ? "embeddings" : capabilities(model),
        price ? perMillion(price.input) : "",
        price ? perMillion(price.output) : "",
        (model.aliases ?? []).join(", "),
        buttons(local),
      ];
    })),
    priced ? el("p", { className: "note" },
      `Prices in ${priced.currency} per million tokens; batch requests cost `
      + `${priced.batch_discount * 100}% of them. Load and Unload need an admin key; a model `
      + "is unloaded only once no request holds it.") : null);
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
