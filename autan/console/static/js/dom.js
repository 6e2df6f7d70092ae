// Building elements. Data only ever goes in as text (text nodes, textContent), never as markup.

// el("td", {className: "x"}, "text", child) — string children become text nodes.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node) node[name] = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))));
}

export function errorBox(error) {
  return el("p", { className: "error", role: "alert" }, String(error.message || error));
}

// A button that runs ``onclick`` once at a time (disabled meanwhile) and shows a failure in
// ``errors``, the element that holds the page's messages.
export function actionButton(label, onclick, errors) {
  return el("button", {
    type: "button",
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await onclick();
      } catch (error) {
        errors.append(errorBox(error));
      } finally {
        event.target.disabled = false;
      }
    },
  }, label);
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// Offers a Blob as a download named `name` (an object URL, released once the click is handled).
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// "2026-12-04 17:20:05" (UTC) from seconds since the epoch.
export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);
}

// Calls `tick` every `ms` until it returns false or the node leaves the page.
export function poll(node, ms, tick) {
  const timer = setInterval(async () => {
    if (!node.isConnected) { clearInterval(timer); return; }
    try {
      if ((await tick()) === false) clearInterval(timer);
    } catch (error) {
      clearInterval(timer);
      node.append(errorBox(error));
    }
  }, ms);
  return () => clearInterval(timer);
}

// "1 file", "3 files".
export function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
