// The console's shell: sign-in, navigation, and one module per page (pages/*.js), each
// exporting `render(container, params)`. Pages are chosen by the URL fragment (#/keys), which
// may carry parameters for the page (#/playground?model=ft:...).
import { ApiError, api, apiKey, setApiKey } from "./api.js";
import { el, errorBox } from "./dom.js";

const PAGES = [
  ["overview", "Overview", "./pages/overview.js"],
  ["usage", "Usage", "./pages/usage.js"],
  ["keys", "API keys", "./pages/keys.js"],
  ["workspaces", "Workspaces", "./pages/workspaces.js"],
  ["models", "Models", "./pages/models.js"],
  ["playground", "Playground", "./pages/playground.js"],
  ["files", "Files", "./pages/files.js"],
  ["batch", "Batch jobs", "./pages/batch.js"],
  ["fine-tuning", "Fine-tuning", "./pages/fine_tuning.js"],
  ["requests", "Request log", "./pages/request_log.js"],
];

const page = document.getElementById("page");
const nav = document.getElementById("nav");
const signOut = document.getElementById("sign-out");

function showSignIn(message) {
  nav.hidden = true;
  signOut.hidden = true;
  const input = el("input", { id: "api-key", type: "password", autocomplete: "off", required: true });
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      setApiKey(input.value.trim());
      try {
        await api("GET", "/v1/models");
      } catch (error) {
        setApiKey(null);
        showSignIn(error instanceof ApiError && error.status === 401
          ? "This API key is not accepted." : String(error.message));
        return;
      }
      route();
    },
  },
  el("h1", {}, "Sign in"),
  el("label", { htmlFor: "api-key" }, "API key"), input,
  el("p", {}, el("button", { type: "submit" }, "Sign in")),
  el("p", { className: "note" },
    "The key stays in this tab (sessionStorage) and is sent to this server only."),
  message ? errorBox(message) : null);
  page.replaceChildren(form);
  input.focus();
}

function showNav(current) {
  nav.replaceChildren(...PAGES.map(([id, title]) =>
    el("a", { href: `#/${id}`, className: id === current ? "current" : "" }, title)));
  nav.hidden = false;
  signOut.hidden = false;
}

async function route() {
  if (!apiKey()) {
    showSignIn();
    return;
  }
  const [path, query] = location.hash.replace(/^#\//, "").split("?");
  const id = path || "overview";
  const entry = PAGES.find(([pageId]) => pageId === id) ?? PAGES[0];
  const [pageId, title, module] = entry;
  showNav(pageId);
  document.title = `${title} · autan console`;
  const container = el("section", { id: `page-${pageId}` }, el("h1", {}, title));
  page.replaceChildren(container);
  if (!module) {
    container.append(el("p", { className: "note" },
      `The ${title} page is coming; until then, use the API or the autan command.`));
    return;
  }
  try {
    await (await import(module)).render(container, new URLSearchParams(query ?? ""));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setApiKey(null);
      showSignIn("The API key is no longer accepted.");
      return;
    }
    container.append(errorBox(error));
  }
}

signOut.addEventListener("click", () => {
  setApiKey(null);
  location.hash = "";
  showSignIn();
});
window.addEventListener("hashchange", route);
route();
