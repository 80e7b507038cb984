// Server-Sent Events read with fetch(), not EventSource: EventSource cannot send the
// Authorization header, and the token must never go in a URL or a cookie.

import { authorization } from "./session.js";

export class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Yield {event, data} until the stream ends or `signal` aborts it. */
export async function* events(path, token, signal) {
  const reply = await fetch(path, { headers: authorization(token), signal, cache: "no-store" });
  if (!reply.ok) {
    const body = await reply.json().catch(() => ({}));
    throw new Refused(reply.status, body.error || `HTTP ${reply.status}`);
  }
  const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame) yield frame;
    }
  }
}

function parse(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
}

/** Run `onFrame` on each frame of `path`, reconnecting (with backoff) until stopped. */
export function follow(path, token, onFrame, onStatus) {
  const control = new AbortController();
  (async () => {
    let wait = 500;
    while (!control.signal.aborted) {
      try {
        onStatus("live");
        for await (const frame of events(path, token, control.signal)) {
          wait = 500;
          onFrame(frame);
        }
      } catch (err) {
        if (control.signal.aborted) return;
        if (err instanceof Refused && (err.status === 401 || err.status === 403)) {
          onStatus(`refused: ${err.message}`, err);
          return;
        }
      }
      onStatus("reconnecting…");
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 10000);
    }
  })();
  return () => control.abort();
}
