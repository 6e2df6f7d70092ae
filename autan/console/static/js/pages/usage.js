// Usage: tokens and requests by day for a range of months (/v1/admin/usage answers a month at a
// time), charted with uPlot and totalled by model.
import { api } from "../api.js";
import { el, table } from "../dom.js";
import uPlot from "../../vendor/uPlot.esm.js";

const MAX_MONTHS = 24;

function monthValue(date) {
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}

function monthsBetween(from, to) {
  const months = [];
  let [y, m] = from.split("-").map(Number);
  const [ty, tm] = to.split("-").map(Number);
  while ((y < ty || (y === ty && m <= tm)) && months.length < MAX_MONTHS) {
    months.push([y, m]);
    m += 1;
    if (m > 12) { m = 1; y += 1; }
  }
  return months;
}

// Every day (YYYY-MM-DD, UTC) of the months, up to today: days without usage chart as zero.
function daysOf(months) {
  const today = new Date().toISOString().slice(0, 10);
  const dates = [];
  for (const [y, m] of months) {
    for (let d = new Date(Date.UTC(y, m - 1, 1)); d.getUTCMonth() === m - 1; d.setUTCDate(d.getUTCDate() + 1)) {
      const day = d.toISOString().slice(0, 10);
      if (day > today) return dates;
      dates.push(day);
    }
  }
  return dates;
}

export async function render(container) {
  const now = new Date();
  const from = el("input", { id: "usage-from", type: "month", value: monthValue(now) });
  const to = el("input", { id: "usage-to", type: "month", value: monthValue(now) });
  const output = el("div", { id: "usage-output" });
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      await show();
    },
  }, el("div", { className: "row" },
    el("label", {}, "From ", from), el("label", {}, "To ", to),
    el("button", { type: "submit" }, "Show")));
  container.append(form, output);

  async function show() {
    const months = monthsBetween(from.value, to.value);
    const answers = await Promise.all(months.map(([y, m]) =>
      api("GET", `/v1/admin/usage?year=${y}&month=${m}`)));
    const days = new Map();  // date -> {input, output, requests}
    const byModel = new Map();  // model -> {input, output, requests, cost}
    for (const answer of answers) {
      for (const [name, kinds] of Object.entries(answer.completion.models)) {
        const total = byModel.get(name) ?? { input: 0, output: 0, requests: 0, cost: 0 };
        for (const entry of kinds.input ?? []) {
          const day = days.get(entry.date) ?? { input: 0, output: 0, requests: 0 };
          day.input += entry.value; day.requests += entry.requests ?? 0;
          days.set(entry.date, day);
          total.input += entry.value; total.requests += entry.requests ?? 0;
        }
        for (const entry of kinds.output ?? []) {
          const day = days.get(entry.date) ?? { input: 0, output: 0, requests: 0 };
          day.output += entry.value;
          days.set(entry.date, day);
          total.output += entry.value; total.cost += entry.cost ?? 0;
        }
        byModel.set(name, total);
      }
    }
    const currency = answers[0]?.currency ?? "";
    const dates = daysOf(months);
    const chart = el("div", { id: "usage-chart" });
    output.replaceChildren(
      el("p", { id: "usage-totals" },
        `${answers.reduce((n, a) => n + a.total_prompt_tokens, 0)} prompt tokens, `
        + `${answers.reduce((n, a) => n + a.total_completion_tokens, 0)} completion tokens, `
        + `${answers.reduce((n, a) => n + a.total_cost, 0).toFixed(4)} ${currency}`),
      chart,
      el("h2", {}, "By model"),
      table(["Model", "Requests", "Prompt tokens", "Completion tokens", `Cost (${currency})`],
        [...byModel].map(([name, t]) => [name, t.requests, t.input, t.output, t.cost.toFixed(4)])));
    if (!days.size) {
      chart.append(el("p", { className: "note" }, "No usage in this range."));
      return;
    }
    const zero = { input: 0, output: 0, requests: 0 };
    const from0 = (u, min, max) => [0, Math.max(1, max)];
    const x = dates.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    new uPlot({
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
  }

  await show();
}
