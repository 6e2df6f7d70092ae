// Server-sent events read from a fetch body (EventSource cannot send an Authorization header).

export class StreamError extends Error {}

// Yields each event's data (a string), in order, until the stream ends or sends "[DONE]". An
// `event: error` (what autan sends when a stream fails after it began) is thrown as a
// StreamError with the Mistral error envelope's message.
export async function* sseData(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (let done = false; !done;) {
    const read = await reader.read();
    done = read.done;
    // Line ends to "\n"; a CR that ends this piece may be half of a CRLF: kept until the next.
    buffer += read.value ?? "";
    const cr = !done && buffer.endsWith("\r") ? "\r" : "";
    buffer = buffer.slice(0, buffer.length - cr.length).replace(/\r\n?/g, "\n") + cr;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const lines = buffer.slice(0, end).split("\n");
      buffer = buffer.slice(end + 2);
      const field = (name) => lines.filter((line) => line.startsWith(`${name}:`))
        .map((line) => line.slice(line.startsWith(`${name}: `) ? name.length + 2 : name.length + 1));
      const data = field("data").join("\n");
      if (field("event")[0] === "error") throw new StreamError(errorMessage(data));
      if (!data) continue;
      if (data === "[DONE]") return;
      yield data;
    }
  }
}

function errorMessage(data) {
  try {
    return JSON.parse(data).message ?? data;
  } catch {
    return data || "The stream failed";
  }
}
