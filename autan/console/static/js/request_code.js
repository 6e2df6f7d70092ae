// A request as code: the same JSON body written for the `mistralai` and `openai` Python SDKs
// and for curl, so what the playground sent can be run elsewhere. The key is read from an
// environment variable in every form: it is never written into the code.

// A JSON value as a Python literal (true -> True, null -> None), indented like `json.dumps`.
export function pythonLiteral(value, indent = "") {
  const inner = `${indent}    `;
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "None";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => inner + pythonLiteral(v, inner)).join(",\n")},\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${pythonLiteral(v, inner)}`)
    .join(",\n")},\n${indent}}`;
}

function keywordArguments(body) {
  return Object.entries(body)
    .filter(([name]) => name !== "stream")
    .map(([name, value]) => `    ${name}=${pythonLiteral(value, "    ")},`)
    .join("\n");
}

// `path` is "/v1/chat/completions" or "/v1/fim/completions"; `body` the exact JSON sent.
export function mistralaiCode(origin, path, body) {
  const fim = path === "/v1/fim/completions";
  const method = `client.${fim ? "fim" : "chat"}.${body.stream ? "stream" : "complete"}`;
  const read = body.stream
    ? "for event in response:\n    print(event.data.choices[0].delta.content or \"\", end=\"\")\n"
    : "print(response.choices[0].message.content)\n";
  return "import os\n\nfrom mistralai import Mistral\n\n"
    + `client = Mistral(api_key=os.environ["AUTAN_API_KEY"], server_url=${JSON.stringify(origin)})\n`
    + `response = ${method}(\n${keywordArguments(body)}\n)\n${read}`;
}

export function openaiCode(origin, path, body) {
  const head = "import os\n\nfrom openai import OpenAI\n\n"
    + `client = OpenAI(api_key=os.environ["AUTAN_API_KEY"], base_url=${JSON.stringify(`${origin}/v1`)})\n`;
  if (path === "/v1/fim/completions") {
    // The OpenAI SDK has no fill-in-the-middle method: its generic POST sends the same body.
    return `${head}# The OpenAI SDK has no FIM method; its generic post sends the same body.\n`
      + `response = client.post(\n    "/fim/completions",\n    body=${pythonLiteral(body, "    ")},\n`
      + "    cast_to=object,\n)\nprint(response)\n";
  }
  const read = body.stream
    ? "for chunk in response:\n    if chunk.choices:\n"
      + "        print(chunk.choices[0].delta.content or \"\", end=\"\")\n"
    : "print(response.choices[0].message)\n";
  return `${head}response = client.chat.completions.create(\n`
    + `${Object.entries(body).map(([n, v]) => `    ${n}=${pythonLiteral(v, "    ")},`).join("\n")}\n)\n${read}`;
}

export function curlCode(origin, path, body) {
  // Single-quoted for the shell: a ' in the JSON closes the quote, is escaped, and reopens it.
  const json = JSON.stringify(body, null, 2).replaceAll("'", "'\\''");
  return `curl ${origin}${path} \\\n  -H "Authorization: Bearer $AUTAN_API_KEY" \\\n`
    + `  -H "Content-Type: application/json" \\\n  -d '${json}'\n`;
}
