// Workspaces: create, archive, a monthly spend limit and per-minute limits shared by its keys
// each, and their members' keys with their own rate limits. An admin key sees and changes every workspace; any other key sees its own,
// read-only (the admin API answers it only that one).
import { api, isAdminKey, send } from "../api.js";
import { el, errorBox, table } from "../dom.js";
import { limitsEditor } from "./keys.js";

function spendText(limits) {
  const c = limits.limits.completion;
  const currency = limits.limits.currency;
  const limit = c.no_monthly_limit ? "no monthly limit" : `limit ${c.usage_limit} ${currency}`;
  return `${(c.usage ?? 0).toFixed(4)} ${currency} this month, ${limit}`
    + (c.monthly_limit_reached ? " (reached)" : "");
}

export async function render(container) {
  const admin = await isAdminKey();
  const listBox = el("div", { id: "workspace-list" });
  const detail = el("div", { id: "workspace-detail" });
  const archivedToggle = el("input", { id: "ws-show-archived", type: "checkbox" });
  archivedToggle.addEventListener("change", () => refresh());

  if (admin) {
    const name = el("input", { id: "ws-name", required: true, maxLength: 200 });
    const description = el("input", { id: "ws-description", maxLength: 200 });
    const created = el("div");
    const form = el("form", {
      id: "workspace-create",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api("POST", "/v1/admin/workspaces", { name: name.value, description: description.value });
          form.reset();
          created.replaceChildren();
          await refresh();
        } catch (error) {
          created.replaceChildren(errorBox(error));
        }
      },
    },
    el("h2", {}, "Create a workspace"),
    el("div", { className: "row" },
      el("label", {}, "Name ", name),
      el("label", {}, "Description ", description),
      el("button", { type: "submit" }, "Create workspace")),
    created);
    container.append(form);
  } else {
    container.append(el("p", { className: "note", id: "ws-read-only" },
      "This key is not an admin key: it sees its own workspace, read-only."));
  }
  container.append(el("h2", {}, "Workspaces"),
    admin ? el("label", {}, archivedToggle, " Show archived workspaces") : null,
    listBox, detail);

  async function refresh() {
    const archived = archivedToggle.checked;
    const { items } = await api("GET",
      `/v1/admin/workspaces?page_size=1000&is_archived=${archived}`);
    const spends = await Promise.all(items.map((w) => archived ? null
      : api("GET", `/v1/admin/spend-limit?workspace_id=${encodeURIComponent(w.uuid)}`)));
    listBox.replaceChildren(table(
      ["Name", "Description", "Spend", "Requests/min", "Tokens/min", ""],
      items.map((w, i) => [
        w.name + (w.is_default ? " (default)" : ""),
        w.description ?? "",
        spends[i] ? spendText(spends[i]) : "archived",
        w.requests_per_minute ?? "", w.tokens_per_minute ?? "",
        el("span", {},
          el("button", {
            type: "button", className: "open-workspace", "data-workspace": w.name,
            onclick: () => showWorkspace(w),
          }, "Keys and limits"),
          " ",
          admin && !archived && !w.is_default ? el("button", {
            type: "button", className: "archive", "data-workspace": w.name,
            onclick: async (event) => {
              if (!window.confirm(`Archive "${w.name}"? Its keys are refused from their next request.`)) return;
              event.target.disabled = true;
              try {
                // 204, no body: the raw response.
                await send("DELETE", `/v1/admin/workspaces/${encodeURIComponent(w.uuid)}`);
                detail.replaceChildren();
                await refresh();
              } catch (error) {
                event.target.disabled = false;
                listBox.append(errorBox(error));
              }
            },
          }, "Archive") : null),
      ])));
  }

  async function showWorkspace(workspace) {
    const id = encodeURIComponent(workspace.uuid);
    const [{ keys }, spend] = await Promise.all([
      api("GET", `/v1/admin/api-keys?limit=1000&workspace_id=${id}`),
      archivedToggle.checked ? null : api("GET", `/v1/admin/spend-limit?workspace_id=${id}`),
    ]);
    const status = el("div", { id: "ws-status" });
    const parts = [el("h2", {}, `Workspace "${workspace.name}"`)];
    if (spend) parts.push(el("p", { id: "ws-spend" }, `Spend: ${spendText(spend)}`));
    if (admin && spend) {
      const amount = el("input", {
        id: "ws-spend-limit", type: "number", min: 0, step: "any",
        value: spend.limits.completion.usage_limit ?? "",
      });
      parts.push(el("form", {
        id: "ws-spend-form",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            await api("POST", "/v1/admin/spend-limit", amount.value === ""
              ? { workspace_id: workspace.uuid, no_monthly_limit: true }
              : { workspace_id: workspace.uuid, amount: Number(amount.value) });
            await showWorkspace(workspace);
            await refresh();
          } catch (error) {
            status.replaceChildren(errorBox(error));
          }
        },
      }, el("div", { className: "row" },
        el("label", {}, `Monthly spend limit (${spend.limits.currency}; empty: none) `, amount),
        el("button", { type: "submit" }, "Set spend limit"))));
    }
    const editor = el("div", { id: "ws-key-editor" });
    const limits = [workspace.requests_per_minute, workspace.tokens_per_minute];
    parts.push(el("p", { id: "ws-rate-limits" }, "Shared by its keys, on top of their own: "
      + `${limits[0] ?? "no limit of"} requests and ${limits[1] ?? "no limit of"} tokens per minute`));
    if (admin && !archivedToggle.checked) {
      const rpm = el("input", { id: "ws-rpm", type: "number", min: 1, value: limits[0] ?? "" });
      const tpm = el("input", { id: "ws-tpm", type: "number", min: 1, value: limits[1] ?? "" });
      const number = (input) => (input.value === "" ? null : Number.parseInt(input.value, 10));
      parts.push(el("form", {
        id: "ws-rate-form",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            const changed = await api("PATCH", `/v1/admin/workspaces/${id}`,
              { requests_per_minute: number(rpm), tokens_per_minute: number(tpm) });
            await showWorkspace(changed);
            await refresh();
          } catch (error) {
            status.replaceChildren(errorBox(error));
          }
        },
      }, el("div", { className: "row" },
        el("label", {}, "Workspace requests per minute (empty: none) ", rpm),
        el("label", {}, "Workspace tokens per minute (empty: none) ", tpm),
        el("button", { type: "submit" }, "Set rate limits"))));
    }
    parts.push(el("h3", {}, "Members' keys"), keys.length ? table(
      ["Name", "Key", "Models", "Requests/min", "Tokens/min", "Expires", "Admin", ""],
      keys.map((key) => [
        key.name ?? "", key.hidden_key, key.models ? key.models.join(", ") : "all",
        key.requests_per_minute ?? "", key.tokens_per_minute ?? "",
        key.expiration_date ?? "", key.is_admin ? "yes" : "",
        admin && !archivedToggle.checked ? el("button", {
          type: "button", className: "edit-limits", "data-key-name": key.name,
          onclick: () => editor.replaceChildren(
            el("h3", {}, `Rate limits of "${key.name ?? key.hidden_key}"`),
            limitsEditor(key, () => showWorkspace(workspace))),
        }, "Edit limits") : "",
      ])) : el("p", { className: "note" }, "No keys."),
    editor,
    admin ? el("p", { className: "note" }, "Keys are created in a workspace on the API keys page.")
      : null,
    status);
    detail.replaceChildren(...parts);
  }

  await refresh();
}
