// Fine-tuning: create a LoRA job from uploaded files with its hyperparameters, follow it
// (polled: status, events, checkpoints, training and validation loss charted with uPlot), and
// open the model it made in the playground.
import { api } from "../api.js";
import { actionButton, count, el, errorBox, formatTime, poll, table } from "../dom.js";
import uPlot from "../../vendor/uPlot.esm.js";

const JOBS = "/v1/fine_tuning/jobs";
const FINISHED = new Set(["SUCCESS", "FAILED", "FAILED_VALIDATION", "CANCELLED"]);
const POLL_MS = 1000;

function number(input) {
  return input.value === "" ? undefined : Number(input.value);
}

function fileOption(f) {
  return el("option", { value: f.id }, `${f.filename} (${f.num_lines ?? "?"} lines)`);
}

export async function render(container, params = new URLSearchParams()) {
  const [{ data: models }, { data: files }] = await Promise.all([
    api("GET", "/v1/models"),
    api("GET", "/v1/files?purpose=fine-tune&page_size=1000"),
  ]);
  const bases = models.filter((m) => m.capabilities?.fine_tuning);
  const model = el("select", { id: "ft-model" },
    ...(bases.length ? bases : models).map((m) => el("option", { value: m.id }, m.id)));
  const training = el("select", { id: "ft-training-file" }, ...files.map(fileOption));
  const validation = el("select", { id: "ft-validation-file" },
    el("option", { value: "" }, "none"), ...files.map(fileOption));
  const steps = el("input", { id: "ft-steps", type: "number", min: 1, step: 1, value: "10" });
  const learningRate = el("input", { id: "ft-learning-rate", type: "number", min: 1e-8, max: 1, step: "any", value: "0.0001" });
  const epochs = el("input", { id: "ft-epochs", type: "number", min: 0, step: "any", placeholder: "unset" });
  const weightDecay = el("input", { id: "ft-weight-decay", type: "number", min: 0, max: 1, step: "any", placeholder: "0.1" });
  const warmup = el("input", { id: "ft-warmup", type: "number", min: 0, max: 1, step: "any", placeholder: "0.05" });
  const seqLen = el("input", { id: "ft-seq-len", type: "number", min: 100, step: 1, placeholder: "1024" });
  const suffix = el("input", { id: "ft-suffix", maxLength: 18 });
  const autoStart = el("input", { id: "ft-auto-start", type: "checkbox", checked: true });
  const created = el("div", { id: "ft-created" });
  const listBox = el("div", { id: "ft-list" });
  const detail = el("div", { id: "ft-detail" });
  let openId = params.get("job");
  let stopPolling = () => {};
  // Each listed job's status as the list shows it, so that the list is fetched again whenever
  // the open job is seen in another status (even on the job's first poll).
  const listed = new Map();

  const form = el("form", {
    id: "ft-create",
    onsubmit: async (event) => {
      event.preventDefault();
      created.replaceChildren();
      const hyperparameters = {
        training_steps: number(steps), learning_rate: number(learningRate), epochs: number(epochs),
        weight_decay: number(weightDecay), warmup_fraction: number(warmup), seq_len: number(seqLen),
      };
      try {
        if (!training.value) throw new Error("Upload a training file (purpose fine-tune) on the Files page first.");
        const job = await api("POST", JOBS, {
          model: model.value,
          training_files: [{ file_id: training.value, weight: 1 }],
          validation_files: validation.value ? [validation.value] : null,
          hyperparameters,
          suffix: suffix.value || null,
          auto_start: autoStart.checked,
        });
        created.append(el("p", {}, "Created the job ", el("code", {}, job.id), "."));
        await refresh();
        await open(job.id, job);
      } catch (error) {
        created.append(errorBox(error));
      }
    },
  },
  el("h2", {}, "Create a job"),
  el("div", { className: "row" },
    el("label", {}, "Base model ", model),
    el("label", {}, "Training file ", training),
    el("label", {}, "Validation file ", validation)),
  el("div", { className: "row" },
    el("label", {}, "Training steps ", steps),
    el("label", {}, "Learning rate ", learningRate),
    el("label", {}, "Epochs ", epochs),
    el("label", {}, "Weight decay ", weightDecay),
    el("label", {}, "Warm-up fraction ", warmup),
    el("label", {}, "Sequence length ", seqLen),
    el("label", {}, "Suffix ", suffix),
    el("label", {}, autoStart, " Start once validated")),
  el("p", {}, el("button", { type: "submit" }, "Create job")));

  async function refresh() {
    const { data, total } = await api("GET", `${JOBS}?page_size=100`);
    listed.clear();
    for (const job of data) listed.set(job.id, job.status);
    listBox.replaceChildren(
      el("p", { className: "note" }, `${count(total, "job")} in this key's workspace.`),
      data.length
        ? table(["ID", "Base model", "Status", "Fine-tuned model", "Created (UTC)", ""], data.map((job) => [
          el("code", {}, job.id), job.model, job.status, job.fine_tuned_model ?? "",
          formatTime(job.created_at),
          el("button", { type: "button", onclick: () => open(job.id) }, "Open"),
        ]))
        : el("p", {}, "No fine-tuning jobs yet."));
  }

  async function act(job, action) {
    await api("POST", `${JOBS}/${encodeURIComponent(job.id)}/${action}`);
    await refresh();
    await open(job.id);
  }

  function showJob(job) {
    const button = (label, onclick) => actionButton(label, onclick, detail);
    const hp = Object.entries(job.hyperparameters).filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `${k} ${v}`).join(", ");
    const playground = job.fine_tuned_model && job.status === "SUCCESS"
      ? el("a", { id: "ft-open-playground", href: `#/playground?model=${encodeURIComponent(job.fine_tuned_model)}` },
        "Open in playground")
      : null;
    const checkpoints = [...job.checkpoints].sort((a, b) => a.step_number - b.step_number);
    const chart = el("div", { id: "ft-loss-chart" });
    detail.replaceChildren(...[
      el("h2", {}, "Job ", el("code", {}, job.id)),
      el("p", {}, "Status: ", el("strong", { id: "ft-status" }, job.status),
        job.fine_tuned_model ? " · model " : null,
        job.fine_tuned_model ? el("code", { id: "ft-model-id" }, job.fine_tuned_model) : null),
      el("p", { className: "note" }, `${job.model} · ${hp}`
        + (job.trained_tokens ? ` · ${job.trained_tokens} tokens trained` : "")),
      el("p", {},
        job.status === "VALIDATED" ? button("Start", () => act(job, "start")) : null, " ",
        !FINISHED.has(job.status) && job.status !== "CANCELLATION_REQUESTED"
          ? button("Cancel", () => act(job, "cancel")) : null, " ",
        playground),
      el("h3", {}, "Loss"),
      chart,
      checkpoints.length
        ? withId("ft-checkpoints", table(["Step", "Training loss", "Validation loss", "Validation token accuracy", "Time (UTC)"],
          checkpoints.map((c) => [c.step_number, fixed(c.metrics.train_loss), fixed(c.metrics.valid_loss),
            fixed(c.metrics.valid_mean_token_accuracy), formatTime(c.created_at)])))
        : null,
      el("h3", {}, "Events"),
      table(["Time (UTC)", "Event", "Details"], job.events.map((e) => [
        formatTime(e.created_at), e.name, e.data ? el("code", {}, JSON.stringify(e.data)) : "",
      ])),
    ].filter(Boolean));
    if (!checkpoints.length) {
      chart.append(el("p", { className: "note" }, "No checkpoints yet: the curves appear as training reports them."));
      return;
    }
    const series = (name) => checkpoints.map((c) => c.metrics[name] ?? null);
    new uPlot({
      width: Math.min(700, container.clientWidth || 700),
      height: 260,
      scales: { x: { time: false } },
      series: [
        { label: "Step" },
        { label: "Training loss", stroke: "#3366cc", points: { show: true } },
        { label: "Validation loss", stroke: "#dc3912", points: { show: true } },
      ],
      axes: [{ label: "step" }, { label: "loss" }],
    }, [checkpoints.map((c) => c.step_number), series("train_loss"), series("valid_loss")], chart);
  }

  // `created`: the job as its creation answered, shown until the first poll.
  async function open(jobId, created = null) {
    stopPolling();
    openId = jobId;
    let last = null;
    if (created) showJob({ events: [], checkpoints: [], ...created });
    const load = async () => {
      const job = await api("GET", `${JOBS}/${encodeURIComponent(jobId)}`);
      if (openId !== jobId) return false;
      // Drawn again only when something changed, so the chart is not redrawn every second.
      const seen = `${job.status}|${job.modified_at}|${job.checkpoints.length}|${job.events.length}`;
      if (seen !== last) {
        if (listed.has(job.id) && listed.get(job.id) !== job.status) await refresh();
        last = seen;
        showJob(job);
      }
      return !FINISHED.has(job.status);
    };
    if (await load()) stopPolling = poll(detail, POLL_MS, load);
  }

  container.append(form, created, el("h2", {}, "Jobs"), listBox, detail);
  await refresh();
  if (openId) await open(openId);
}

function fixed(value) {
  return value === null || value === undefined ? "" : Number(value).toFixed(4);
}

function withId(id, node) {
  node.id = id;
  return node;
}
