// Batch jobs: create one from an uploaded file or from pasted JSONL (uploaded as a file first),
// follow its progress (polled), download its output and error files, cancel it.
import { api, fileContent, uploadFile } from "../api.js";
import { actionButton, count, el, errorBox, formatTime, poll, saveBlob } from "../dom.js";

const ENDPOINTS = ["/v1/chat/completions", "/v1/fim/completions", "/v1/embeddings"];
const LIVE = new Set(["QUEUED", "RUNNING", "CANCELLATION_REQUESTED"]);
const POLL_MS = 500;

// "a=1, b=two" -> {a: "1", b: "two"}; empty -> null.
function parseMetadata(text) {
  const pairs = text.split(",").map((p) => p.trim()).filter(Boolean).map((p) => {
    const at = p.indexOf("=");
    if (at <= 0) throw new Error(`Metadata is key=value pairs separated by commas, not "${p}".`);
    return [p.slice(0, at).trim(), p.slice(at + 1).trim()];
  });
  return pairs.length ? Object.fromEntries(pairs) : null;
}

export async function render(container) {
  const [{ data: models }, { data: files }] = await Promise.all([
    api("GET", "/v1/models"),
    api("GET", "/v1/files?purpose=batch&page_size=1000"),
  ]);
  const model = el("select", { id: "batch-model" },
    ...models.map((m) => el("option", { value: m.id }, m.id)));
  const endpoint = el("select", { id: "batch-endpoint" },
    ...ENDPOINTS.map((e) => el("option", { value: e }, e)));
  const fromFile = el("input", { type: "radio", name: "batch-source", value: "file", checked: files.length > 0 });
  const fromPaste = el("input", { type: "radio", name: "batch-source", value: "paste", checked: files.length === 0 });
  const inputFile = el("select", { id: "batch-file" },
    ...files.map((f) => el("option", { value: f.id }, `${f.filename} (${f.num_lines ?? "?"} lines)`)));
  const pasted = el("textarea", {
    id: "batch-jsonl", rows: 5,
    placeholder: '{"custom_id": "0", "body": {"max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]}}',
  });
  const metadata = el("input", { id: "batch-metadata", placeholder: "project=reviews, owner=ana", size: 30 });
  const created = el("div", { id: "batch-created" });
  const listBox = el("div", { id: "batch-list" });
  let live = false;  // whether a listed job may still change

  const form = el("form", {
    id: "batch-create",
    onsubmit: async (event) => {
      event.preventDefault();
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      created.replaceChildren();
      try {
        let fileId = inputFile.value;
        if (fromPaste.checked) {
          if (!pasted.value.trim()) throw new Error("Paste one request per line (JSONL).");
          const blob = new Blob([pasted.value.endsWith("\n") ? pasted.value : `${pasted.value}\n`],
            { type: "application/jsonl" });
          const name = `pasted-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl`;
          fileId = (await uploadFile(blob, "batch", undefined, name)).id;
        }
        if (!fileId) throw new Error("Choose an uploaded batch file, or paste the requests.");
        const job = await api("POST", "/v1/batch/jobs", {
          input_files: [fileId], endpoint: endpoint.value, model: model.value,
          metadata: parseMetadata(metadata.value),
        });
        created.append(el("p", {}, "Created the job ", el("code", {}, job.id), "."));
        pasted.value = "";
        await refresh();
      } catch (error) {
        created.append(errorBox(error));
      } finally {
        submit.disabled = false;
      }
    },
  },
  el("h2", {}, "Create a job"),
  el("div", { className: "row" },
    el("label", {}, "Model ", model),
    el("label", {}, "Endpoint ", endpoint),
    el("label", {}, "Metadata ", metadata)),
  el("label", {}, fromFile, " An uploaded file (purpose batch) ", inputFile),
  el("label", {}, fromPaste, " Requests pasted as JSONL, one a line (uploaded as a file)"),
  pasted,
  el("p", {}, el("button", { type: "submit" }, "Create job")));
  pasted.addEventListener("focus", () => { fromPaste.checked = true; });
  inputFile.addEventListener("change", () => { fromFile.checked = true; });

  async function download(fileId, fallback) {
    const file = await api("GET", `/v1/files/${encodeURIComponent(fileId)}`);
    saveBlob(await fileContent(fileId), file.filename || fallback);
  }

  function actions(job) {
    const button = (label, onclick) => actionButton(label, onclick, listBox);
    return el("span", { className: "actions" },
      job.output_file ? button("Output", () => download(job.output_file, `${job.id}-output.jsonl`)) : null,
      job.error_file ? button("Errors", () => download(job.error_file, `${job.id}-errors.jsonl`)) : null,
      LIVE.has(job.status) && job.status !== "CANCELLATION_REQUESTED"
        ? button("Cancel", async () => {
          await api("POST", `/v1/batch/jobs/${encodeURIComponent(job.id)}/cancel`);
          await refresh();
        })
        : null);
  }

  function row(job) {
    const percent = job.total_requests ? Math.round((100 * job.completed_requests) / job.total_requests) : 0;
    return el("tr", { "data-job-id": job.id },
      el("td", {}, el("code", {}, job.id),
        ...Object.entries(job.metadata ?? {}).map(([k, v]) => el("div", { className: "note metadata" }, `${k}: ${v}`))),
      el("td", {}, job.model ?? ""),
      el("td", {}, job.endpoint),
      el("td", { className: "status" }, job.status),
      el("td", {},
        el("progress", { max: job.total_requests || 1, value: job.completed_requests, title: `${percent}%` }),
        " ",
        el("span", { className: "counts" },
          `${job.completed_requests} / ${job.total_requests} (${job.succeeded_requests} succeeded, `
          + `${job.failed_requests} failed)`)),
      el("td", { className: "errors" },
        ...job.errors.map((e) => el("div", { className: "error" }, `${e.message} (×${e.count})`))),
      el("td", {}, formatTime(job.created_at)),
      el("td", {}, actions(job)));
  }

  async function refresh() {
    const { data, total } = await api("GET", "/v1/batch/jobs?page_size=100");
    listBox.replaceChildren(
      el("p", { className: "note" }, `${count(total, "job")} in this key's workspace.`),
      data.length
        ? el("table", {},
          el("thead", {}, el("tr", {}, ...["ID", "Model", "Endpoint", "Status", "Progress", "Errors",
            "Created (UTC)", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, ...data.map(row)))
        : el("p", {}, "No batch jobs yet."));
    live = data.some((job) => LIVE.has(job.status));
  }

  container.append(form, created, el("h2", {}, "Jobs"), listBox);
  await refresh();
  // Polled while the page is shown and a job is live: its counts and status move as it runs.
  poll(container, POLL_MS, async () => { if (live) await refresh(); });
}
