// The console's only way to the server: autan's public HTTP API, with the user's key as a bearer
// token, exactly as an SDK calls it. The key lives in sessionStorage (this tab, until it closes):
// never in a URL, never in a cookie.

const KEY = "autan.apiKey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

// The raw Response, for streaming; throws ApiError on an error status.
export async function send(method, path, body = undefined, signal = undefined) {
  const headers = { Authorization: `Bearer ${apiKey()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    signal,
  });
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return response;
}

export async function api(method, path, body = undefined) {
  return (await send(method, path, body)).json();
}

// A file of the Files API as a Blob (its bytes, whatever they hold).
export async function fileContent(fileId) {
  return (await send("GET", `/v1/files/${encodeURIComponent(fileId)}/content`)).blob();
}

// Uploads a file (multipart, as the SDKs do) with XMLHttpRequest, whose upload events report
// progress (fetch has none): onProgress(sentBytes, totalBytes). Resolves to the file's record.
export function uploadFile(file, purpose, onProgress = () => {}, name = file.name) {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", file, name);
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/v1/files");
    request.setRequestHeader("Authorization", `Bearer ${apiKey()}`);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) resolve(JSON.parse(request.responseText));
      else reject(new ApiError(request.status, messageOf(request.status, request.responseText, request.statusText)));
    });
    request.addEventListener("error", () => reject(new Error("The upload failed: the server did not answer.")));
    request.addEventListener("abort", () => reject(new Error("The upload was stopped.")));
    request.send(form);
  });
}

async function errorMessage(response) {
  return messageOf(response.status, await response.text(), response.statusText);
}

// The Mistral error envelope's message, or the status line.
function messageOf(status, text, statusText) {
  try {
    const data = JSON.parse(text);
    const message = data.message ?? data.detail ?? text;
    return `${status}: ${typeof message === "string" ? message : JSON.stringify(message)}`;
  } catch {
    return `${status}: ${text || statusText}`;
  }
}

// Whether the signed-in key is an admin key: the admin API's rate-limit read is for admin
// keys only. Pages that any key may read use it to offer changes to admin keys alone.
export async function isAdminKey() {
  try {
    await api("GET", "/v1/admin/rate-limit");
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return false;
    throw error;
  }
}
