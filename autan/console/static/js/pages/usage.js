// Usage: tokens and requests by day over any range of days, charted with uPlot, totalled by
// model, kind (interactive, batch, management), workspace and key, and exported as CSV by day,
// model, key, workspace and kind. The server sums (/v1/admin/usage/summary), so a year of a
// busy server's usage is a few hundred lines.
import { api } from "../api.js";
import { el, errorBox, table } from "../dom.js";
import uPlot from "../../vendor/uPlot.esm.js";

const MAX_DAYS = 3660;  // the API's longest range
const DAY_MS = 86_400_000;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// Every day (YYYY-MM-DD, UTC) from `first` to `last`, both included: days without usage chart as zero.
function daysBetween(first, last) {
  const dates = [];
  for (let t = Date.parse(`${first}T00:00:00Z`); t <= Date.parse(`${last}T00:00:00Z`); t += DAY_MS) {
    dates.push(isoDay(new Date(t)));
  }
  return dates;
}

// The usage summary for the days, grouped by `dimensions`: lines summed by the server.
async function summary(first, last, dimensions) {
  const query = [`start_date=${first}`, `end_date=${last}`,
    ...dimensions.map((d) => `group_by=${d}`)].join("&");
  return api("GET", `/v1/admin/usage/summary?${query}`);
}

function csvField(value) {
  const text = String(value);
  // Quoted when needed; a leading = + - @ is prefixed so a spreadsheet never runs it as a formula.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function usageCsv(lines, names, currency) {
  const header = ["date", "model", "api_key_id", "api_key_name", "workspace_id", "workspace_name",
    "kind", "requests", "errors", "prompt_tokens", "completion_tokens", "cost", "currency"];
  const rows = lines.map((l) => [l.date, l.model, l.api_key_id, names.keys.get(l.api_key_id) ?? "",
    l.workspace_id, names.workspaces.get(l.workspace_id) ?? "", l.kind, l.requests,
    l.errors, l.prompt_tokens, l.completion_tokens, l.cost.toFixed(6), currency]);
  return [header, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

// Names for ids, where the admin API still knows them (revoked keys are not listed).
async function names() {
  const [{ keys }, { items }] = await Promise.all([
    api("GET", "/v1/admin/api-keys?limit=1000"),
    api("GET", "/v1/admin/workspaces?page_size=1000"),
  ]);
  return {
    keys: new Map(keys.map((k) => [k.key_id, k.name ?? k.hidden_key])),
    workspaces: new Map(items.map((w) => [w.uuid, w.name])),
  };
}

function sumBy(lines, keyOf) {
  const totals = new Map();
  for (const l of lines) {
    const id = keyOf(l);
    const t = totals.get(id) ?? { requests: 0, errors: 0, prompt: 0, completion: 0, cost: 0 };
    t.requests += l.requests; t.errors += l.errors; t.prompt += l.prompt_tokens;
    t.completion += l.completion_tokens; t.cost += l.cost;
    totals.set(id, t);
  }
  return [...totals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export async function render(container) {
  const today = new Date();
  const from = el("input", { id: "usage-from", type: "date",
    value: isoDay(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1))) });
  const to = el("input", { id: "usage-to", type: "date", value: isoDay(today) });
  const output = el("div", { id: "usage-output" });
  const exportButton = el("button", { type: "button", id: "usage-export", disabled: true }, "Export CSV");
  const exportStatus = el("span", { id: "usage-export-status" });
  let shown = null;  // the range on screen and the names known then
  exportButton.addEventListener("click", async () => {
    if (!shown) return;
    exportButton.disabled = true;
    try {
      const { data, currency } = await summary(shown.first, shown.last,
        ["day", "model", "key", "workspace", "kind"]);
      const link = el("a", {
        href: URL.createObjectURL(new Blob([usageCsv(data, shown.names, currency)], { type: "text/csv" })),
        download: `autan-usage-${shown.first}-to-${shown.last}.csv`,
      });
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      exportStatus.replaceChildren();
    } catch (error) {
      exportStatus.replaceChildren(errorBox(error));
    } finally {
      exportButton.disabled = false;
    }
  });
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      await show();
    },
  }, el("div", { className: "row" },
    el("label", {}, "From ", from), el("label", {}, "To ", to),
    el("button", { type: "submit" }, "Show"), exportButton, exportStatus));
  container.append(form, output);

  async function show() {
    const first = from.value;
    const last = to.value;
    if (!first || !last || last < first) {
      output.replaceChildren(el("p", { className: "error", role: "alert" }, "Choose a From day on or before the To day."));
      return;
    }
    const span = (Date.parse(last) - Date.parse(first)) / DAY_MS + 1;
    if (span > MAX_DAYS) {
      output.replaceChildren(el("p", { className: "error", role: "alert" }, `A range is at most ${MAX_DAYS} days.`));
      return;
    }
    const [byDay, groups, known] = await Promise.all([
      summary(first, last, ["day", "kind"]),
      summary(first, last, ["model", "key", "workspace", "kind"]),
      names()]);
    const lines = groups.data;
    const inference = lines.filter((l) => l.kind !== "management");
    const currency = groups.currency;
    shown = { first, last, names: known };
    exportButton.disabled = false;

    const days = new Map();  // date -> {input, output, requests}: inference only
    for (const l of byDay.data) {
      if (l.kind === "management") continue;
      const day = days.get(l.date) ?? { input: 0, output: 0, requests: 0 };
      day.input += l.prompt_tokens; day.output += l.completion_tokens; day.requests += l.requests;
      days.set(l.date, day);
    }
    const all = sumBy(lines, () => "all")[0]?.[1]
      ?? { requests: 0, errors: 0, prompt: 0, completion: 0, cost: 0 };
    const kinds = new Map(sumBy(lines, (l) => l.kind));
    const count = (kind) => kinds.get(kind)?.requests ?? 0;
    const totals = (rows) => rows.map(([name, t]) =>
      [name, t.requests, t.errors, t.prompt, t.completion, t.cost.toFixed(4)]);
    const heads = (first) => [first, "Requests", "Errors", "Prompt tokens", "Completion tokens", `Cost (${currency})`];
    const chart = el("div", { id: "usage-chart" });
    output.replaceChildren(
      el("p", { id: "usage-totals" },
        `${all.prompt} prompt tokens, ${all.completion} completion tokens, `
        + `${all.cost.toFixed(4)} ${currency}; requests: ${count("interactive")} interactive, `
        + `${count("batch")} batch, ${count("management")} management, ${all.errors} errors`),
      chart,
      el("h2", {}, "By model"),
      el("div", { id: "usage-by-model" }, table(heads("Model"), totals(sumBy(inference, (l) => l.model)))),
      el("h2", {}, "By kind"),
      el("div", { id: "usage-by-kind" }, table(heads("Kind"), totals([...kinds]))),
      el("h2", {}, "By workspace"),
      el("div", { id: "usage-by-workspace" }, table(heads("Workspace"),
        totals(sumBy(lines, (l) => known.workspaces.get(l.workspace_id) ?? l.workspace_id)))),
      el("h2", {}, "By key"),
      el("div", { id: "usage-by-key" }, table(heads("Key"),
        totals(sumBy(lines, (l) => known.keys.get(l.api_key_id) ?? l.api_key_id)))));
    if (!days.size) {
      chart.append(el("p", { className: "note" }, "No usage in this range."));
      return;
    }
    const dates = daysBetween(first, last);
    const zero = { input: 0, output: 0, requests: 0 };
    const from0 = (u, min, max) => [0, Math.max(1, max)];
    const x = dates.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    const plot = new uPlot({
      width: Math.min(900, container.clientWidth || 900),
      height: 300,
      series: [
        {},
        { label: "Prompt tokens", stroke: "#3366cc" },
        { label: "Completion tokens", stroke: "#dc3912" },
        { label: "Requests", stroke: "#109618", scale: "requests" },
      ],
      scales: { y: { range: from0 }, requests: { range: from0 } },
      axes: [{}, { label: "tokens" }, { side: 1, scale: "requests", grid: { show: false } }],
    }, [x, ...["input", "output", "requests"].map((k) => dates.map((d) => (days.get(d) ?? zero)[k]))],
    chart);
    chart.plot = plot;  // its data, for whoever inspects the page
  }

  await show();
}
