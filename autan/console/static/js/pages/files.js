// Files: upload (dropped or picked, with a progress bar), list, download, delete. A key sees
// its workspace's files only: the API answers no others.
import { api, fileContent, uploadFile } from "../api.js";
import { count, el, errorBox, formatBytes, formatTime, saveBlob, table } from "../dom.js";

const PURPOSES = ["fine-tune", "batch"];

export async function render(container) {
  const purpose = el("select", { id: "file-purpose" },
    ...PURPOSES.map((p) => el("option", { value: p }, p)));
  const picker = el("input", { id: "file-picker", type: "file", multiple: true });
  const progress = el("progress", { id: "upload-progress", max: 100, value: 0, hidden: true });
  const progressText = el("span", { id: "upload-status", className: "note" });
  const uploadErrors = el("div", { id: "upload-errors" });
  const filter = el("select", { id: "file-filter" },
    el("option", { value: "" }, "all"), ...PURPOSES.map((p) => el("option", { value: p }, p)));
  const listBox = el("div", { id: "file-list" });
  const drop = el("div", { id: "file-drop", className: "drop", tabIndex: 0 },
    "Drop files here, or ", el("label", { className: "inline" }, "choose files ", picker));

  async function upload(files) {
    uploadErrors.replaceChildren();
    for (const file of files) {
      progress.hidden = false;
      progress.value = 0;
      progressText.textContent = `Uploading ${file.name}…`;
      try {
        const record = await uploadFile(file, purpose.value, (sent, total) => {
          progress.value = total ? Math.round((100 * sent) / total) : 100;
        });
        progress.value = 100;
        progressText.textContent = `Uploaded ${record.filename} (${formatBytes(record.bytes)}).`;
      } catch (error) {
        progressText.textContent = "";
        uploadErrors.append(errorBox(error));
      }
    }
    await refresh();
  }

  picker.addEventListener("change", async () => {
    const files = [...picker.files];
    picker.value = "";
    await upload(files);
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    await upload([...event.dataTransfer.files]);
  });
  filter.addEventListener("change", () => refresh());

  async function refresh() {
    const query = filter.value ? `&purpose=${encodeURIComponent(filter.value)}` : "";
    const { data, total } = await api("GET", `/v1/files?page_size=1000${query}`);
    const rows = data.map((file) => [
      file.filename, file.purpose, file.sample_type, formatBytes(file.bytes), file.num_lines ?? "",
      formatTime(file.created_at), el("code", {}, file.id),
      el("span", { className: "actions" },
        el("button", {
          type: "button",
          onclick: async () => {
            try {
              saveBlob(await fileContent(file.id), file.filename);
            } catch (error) {
              listBox.append(errorBox(error));
            }
          },
        }, "Download"),
        " ",
        el("button", {
          type: "button",
          onclick: async (event) => {
            if (!window.confirm(`Delete the file "${file.filename}"?`)) return;
            event.target.disabled = true;
            try {
              await api("DELETE", `/v1/files/${encodeURIComponent(file.id)}`);
              await refresh();
            } catch (error) {
              listBox.append(errorBox(error));
            }
          },
        }, "Delete")),
    ]);
    const shown = table(["Name", "Purpose", "Type", "Size", "Lines", "Created (UTC)", "ID", ""], rows);
    [...shown.querySelectorAll("tbody tr")].forEach((tr, i) => { tr.dataset.fileId = data[i].id; });
    listBox.replaceChildren(
      el("p", { className: "note" }, `${count(total ?? data.length, "file")} in this key's workspace.`),
      data.length ? shown : el("p", {}, "No files yet."));
  }

  container.append(
    el("h2", {}, "Upload"),
    el("div", { className: "row" }, el("label", {}, "Purpose ", purpose)),
    drop,
    el("p", {}, progress, " ", progressText),
    uploadErrors,
    el("h2", {}, "Files"),
    el("div", { className: "row" }, el("label", {}, "Show ", filter)),
    listBox);
  await refresh();
}
