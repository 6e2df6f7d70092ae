// Usage: tokens and requests by day over any range of days (one /v1/admin/usage call with
// start_date and end_date), charted with uPlot, totalled by model and by workspace with
// interactive apart from batch, and exported as CSV by day, model, key, workspace and kind.
import { api } from "../api.js";
import { el, table } from "../dom.js";
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

// One line per day, model, key, workspace and kind, from the answer's input and output entries.
export function usageLines(answer) {
  const lines = new Map();
  for (const [model, kinds] of Object.entries(answer.completion.models)) {
    for (const [side, entries] of [["input", kinds.input ?? []], ["output", kinds.output ?? []]]) {
      for (const e of entries) {
        const id = [e.date, model, e.api_key_id, e.workspace_id, e.batch].join("\u0000");
        const line = lines.get(id) ?? { date: e.date, model, key: e.api_key_id,
          workspace: e.workspace_id ?? "", batch: Boolean(e.batch),
          requests: 0, errors: 0, prompt: 0, completion: 0, cost: 0 };
        if (side === "input") {
          line.requests += e.requests ?? 0; line.errors += e.errors ?? 0; line.prompt += e.value;
        } else {
          line.completion += e.value; line.cost += e.cost ?? 0;
        }
        lines.set(id, line);
      }
    }
  }
  return [...lines.values()];
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
  const rows = lines.map((l) => [l.date, l.model, l.key, names.keys.get(l.key) ?? "", l.workspace,
    names.workspaces.get(l.workspace) ?? "", l.batch ? "batch" : "interactive", l.requests,
    l.errors, l.prompt, l.completion, l.cost.toFixed(6), currency]);
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
    t.requests += l.requests; t.errors += l.errors; t.prompt += l.prompt;
    t.completion += l.completion; t.cost += l.cost;
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
  let exported = null;
  exportButton.addEventListener("click", () => {
    if (!exported) return;
    const link = el("a", {
      href: URL.createObjectURL(new Blob([exported.csv], { type: "text/csv" })),
      download: exported.name,
    });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  });
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      await show();
    },
  }, el("div", { className: "row" },
    el("label", {}, "From ", from), el("label", {}, "To ", to),
    el("button", { type: "submit" }, "Show"), exportButton));
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
    const [answer, known] = await Promise.all([
      api("GET", `/v1/admin/usage?start_date=${first}&end_date=${last}`), names()]);
    const lines = usageLines(answer);
    const currency = answer.currency;
    exported = { csv: usageCsv(lines, known, currency), name: `autan-usage-${first}-to-${last}.csv` };
    exportButton.disabled = false;

    const days = new Map();  // date -> {input, output, requests}
    for (const l of lines) {
      const day = days.get(l.date) ?? { input: 0, output: 0, requests: 0 };
      day.input += l.prompt; day.output += l.completion; day.requests += l.requests;
      days.set(l.date, day);
    }
    const totals = (rows) => rows.map(([name, t]) =>
      [name, t.requests, t.errors, t.prompt, t.completion, t.cost.toFixed(4)]);
    const heads = (first) => [first, "Requests", "Errors", "Prompt tokens", "Completion tokens", `Cost (${currency})`];
    const chart = el("div", { id: "usage-chart" });
    const r = answer.requests;
    output.replaceChildren(
      el("p", { id: "usage-totals" },
        `${answer.total_prompt_tokens} prompt tokens, ${answer.total_completion_tokens} completion tokens, `
        + `${answer.total_cost.toFixed(4)} ${currency}; requests: ${r.interactive} interactive, `
        + `${r.batch} batch, ${r.management} management, ${r.errors} errors`),
      chart,
      el("h2", {}, "By model"),
      el("div", { id: "usage-by-model" }, table(heads("Model"), totals(sumBy(lines, (l) => l.model)))),
      el("h2", {}, "Interactive and batch"),
      el("div", { id: "usage-by-kind" },
        table(heads("Kind"), totals(sumBy(lines, (l) => (l.batch ? "batch" : "interactive"))))),
      el("h2", {}, "By workspace"),
      el("div", { id: "usage-by-workspace" }, table(heads("Workspace"),
        totals(sumBy(lines, (l) => known.workspaces.get(l.workspace) ?? l.workspace)))),
      el("h2", {}, "By key"),
      el("div", { id: "usage-by-key" }, table(heads("Key"),
        totals(sumBy(lines, (l) => known.keys.get(l.key) ?? l.key)))));
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
