// API keys: create (the secret shown once), list, change limits, revoke. Admin API; a key
// that is not an admin key sees its own workspace's keys, read-only.
import { api, isAdminKey } from "../api.js";
import { el, errorBox, table } from "../dom.js";

function optionalInt(input) {
  return input.value === "" ? null : Number.parseInt(input.value, 10);
}

function modelList(input) {
  const list = input.value.split(",").map((m) => m.trim()).filter(Boolean);
  return list.length ? list : null;
}

// A form for a key's limits, sent as a PATCH of every field (empty: no limit). Also used by
// the Workspaces page for its members' keys.
export function limitsEditor(key, done) {
  const rpm = el("input", { className: "edit-rpm", type: "number", min: 1, value: key.requests_per_minute ?? "" });
  const tpm = el("input", { className: "edit-tpm", type: "number", min: 1, value: key.tokens_per_minute ?? "" });
  const models = el("input", { className: "edit-models", placeholder: "all", value: key.models ? key.models.join(", ") : "" });
  const expiration = el("input", { className: "edit-expiration", type: "date", value: key.expiration_date ?? "" });
  const status = el("span");
  return el("form", {
    className: "key-limits",
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("PATCH", `/v1/admin/api-keys/${encodeURIComponent(key.key_id)}`, {
          requests_per_minute: optionalInt(rpm),
          tokens_per_minute: optionalInt(tpm),
          models: modelList(models),
          expiration: expiration.value || null,
        });
        await done();
      } catch (error) {
        status.replaceChildren(errorBox(error));
      }
    },
  },
  el("div", { className: "row" },
    el("label", {}, "Requests per minute ", rpm),
    el("label", {}, "Tokens per minute ", tpm),
    el("label", {}, "Models ", models),
    el("label", {}, "Expires on ", expiration),
    el("button", { type: "submit" }, "Save limits"),
    el("button", { type: "button", onclick: () => done() }, "Cancel")),
  status);
}

export async function render(container) {
  const isAdmin = await isAdminKey();
  const listBox = el("div", { id: "key-list" });
  const created = el("div", { id: "key-created" });
  const name = el("input", { id: "key-name", required: true, maxLength: 200 });
  const rpm = el("input", { id: "key-rpm", type: "number", min: 1 });
  const tpm = el("input", { id: "key-tpm", type: "number", min: 1 });
  const models = el("input", { id: "key-models", placeholder: "all" });
  const expiration = el("input", { id: "key-expiration", type: "date" });
  const admin = el("input", { id: "key-admin", type: "checkbox" });
  const { items: workspaces } = await api("GET", "/v1/admin/workspaces?page_size=1000");
  const workspace = el("select", { id: "key-workspace" },
    ...workspaces.map((w) => el("option", { value: w.uuid, selected: w.is_default }, w.name)));

  async function refresh() {
    const { keys } = await api("GET", "/v1/admin/api-keys?limit=1000");
    const editor = el("div", { id: "key-editor" });
    listBox.replaceChildren(table(
      ["Name", "Key", "Workspace", "Models", "Requests/min", "Tokens/min", "Expires", "Admin", ""],
      keys.map((key) => [
        key.name, key.hidden_key, key.workspace_name ?? key.workspace_id,
        key.models ? key.models.join(", ") : "all",
        key.requests_per_minute ?? "", key.tokens_per_minute ?? "",
        key.expiration_date ?? "", key.is_admin ? "yes" : "",
        isAdmin ? el("span", {}, el("button", {
          type: "button", className: "edit-limits", "data-key-name": key.name,
          onclick: () => editor.replaceChildren(
            el("h3", {}, `Limits of "${key.name ?? key.hidden_key}"`), limitsEditor(key, refresh)),
        }, "Edit limits"), " ", el("button", {
          type: "button", className: "revoke", "data-key-name": key.name,
          onclick: async (event) => {
            if (!window.confirm(`Revoke the key "${key.name}"? Requests with it are refused.`)) return;
            event.target.disabled = true;
            try {
              await api("DELETE", `/v1/admin/api-keys/${encodeURIComponent(key.key_id)}`);
              await refresh();
            } catch (error) {
              listBox.append(errorBox(error));
            }
          },
        }, "Revoke")) : "",
      ])), editor);
  }

  const form = el("form", {
    id: "key-create",
    onsubmit: async (event) => {
      event.preventDefault();
      const list = modelList(models);
      try {
        const key = await api("POST", "/v1/admin/api-keys", {
          name: name.value,
          workspace_uuid: workspace.value || null,
          requests_per_minute: optionalInt(rpm),
          tokens_per_minute: optionalInt(tpm),
          models: list,
          expiration: expiration.value || null,
          is_admin: admin.checked,
        });
        const secret = el("code", { id: "new-secret", className: "secret" }, key.key);
        created.replaceChildren(el("p", {},
          `The key "${key.name}": copy it now, it is not shown again. `, secret, " ",
          el("button", {
            type: "button", id: "copy-secret",
            onclick: async (e) => {
              await navigator.clipboard.writeText(key.key);
              e.target.textContent = "Copied";
            },
          }, "Copy"),
          " ",
          el("button", { type: "button", onclick: () => created.replaceChildren() }, "Done")));
        form.reset();
        await refresh();
      } catch (error) {
        created.replaceChildren(errorBox(error));
      }
    },
  },
  el("h2", {}, "Create a key"),
  el("div", { className: "row" },
    el("label", {}, "Name ", name),
    el("label", {}, "Workspace ", workspace),
    el("label", {}, "Requests per minute ", rpm),
    el("label", {}, "Tokens per minute ", tpm),
    el("label", {}, "Models (comma-separated) ", models),
    el("label", {}, "Expires on ", expiration),
    el("label", {}, admin, " Admin key")),
  el("button", { type: "submit" }, "Create key"));

  if (isAdmin) container.append(form, created);
  else {
    container.append(el("p", { className: "note", id: "keys-read-only" },
      "This key is not an admin key: it sees its own workspace's keys, read-only."));
  }
  container.append(el("h2", {}, "Keys"), listBox);
  await refresh();
}
