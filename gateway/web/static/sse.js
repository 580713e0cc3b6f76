// A reader of text/event-stream bodies (the WHATWG server-sent events format) for fetch
// responses, so that the stream can carry an Authorization header, which EventSource cannot.

// Yields { event, data, id } for each dispatched message of a response body.
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message = blank();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        // A lone CR at the very end still ends the line (and here the message).
        if (buffer === "\r" && message.data.length) yield dispatched(message);
        return;
      }
      buffer += value;
      let end;
      // Lines end with CRLF, LF or CR; a CR at the very end may be the first half of a CRLF.
      while ((end = lineEnd(buffer)) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer[end] === "\r" && buffer[end + 1] === "\n" ? end + 2 : end + 1);
        if (line === "") {
          if (message.data.length) yield dispatched(message);
          message = blank(message.id);
        } else {
          apply(message, line);
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function dispatched(message) {
  return { event: message.event || "message", data: message.data.join("\n"), id: message.id };
}

function blank(id = "") {
  return { event: "", data: [], id };
}

function lineEnd(buffer) {
  for (let index = 0; index < buffer.length; index++) {
    const char = buffer[index];
    if (char === "\n") return index;
    if (char === "\r") return index + 1 < buffer.length ? index : -1;
  }
  return -1;
}

function apply(message, line) {
  if (line.startsWith(":")) return; // a comment (keep-alive)
  const colon = line.indexOf(":");
  const name = colon < 0 ? line : line.slice(0, colon);
  let value = colon < 0 ? "" : line.slice(colon + 1);
  if (value.startsWith(" ")) value = value.slice(1);
  if (name === "data") message.data.push(value);
  else if (name === "event") message.event = value;
  else if (name === "id" && !value.includes("\0")) message.id = value;
}
