// GET /admin/insights/stream read with fetch(), because EventSource cannot send the
// Authorization header. Reconnects with backoff; each (re)connection is announced so that
// views can fetch what they may have missed.

const MAX_BACKOFF_SECONDS = 30;

/** Follow the stream until signal aborts: onInsights(doc) per event, onState(state) on changes. */
export async function followInsights(token, { onInsights, onState, signal }) {
  let backoff = 1;
  while (!signal.aborted) {
    try {
      const response = await fetch("/admin/insights/stream", {
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
        cache: "no-store",
        signal,
      });
      if (response.status === 401 || response.status === 403) {
        onState("refused");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      onState("live");
      backoff = 1;
      await readEvents(response.body, (event) => {
        if (event.type !== "insights") return;
        try {
          onInsights(JSON.parse(event.data));
        } catch {
          // An event we cannot read is skipped; the next one carries the whole document again.
        }
      });
    } catch (error) {
      if (signal.aborted) return;
    }
    onState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, backoff * 1000));
    backoff = Math.min(backoff * 2, MAX_BACKOFF_SECONDS);
  }
}

/** Parse text/event-stream (events separated by a blank line; comments start with ":"). */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { type: "message", data: [] };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "event") event.type = text;
        else if (name === "data") event.data.push(text);
      }
      if (event.data.length) onEvent({ type: event.type, data: event.data.join("\n") });
    }
  }
}
