// Auditors (and superadmins): the history of any stream, and the replay that verifies it all.
// Built on API.md's Audit contract: GET /audit/streams/{id} and POST /audit/verify.
import { api, query } from "./api.js";
import { field, fill, h, table } from "./dom.js";
import { money, when } from "./format.js";
import { route } from "./router.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function showAudit(view) {
  const verifyResult = h("div", { "aria-live": "polite" });
  const verify = h("button", { type: "button" }, "Verify every stream");
  const history = h("div", { "aria-live": "polite" });
  const idInput = h("input", { name: "aggregate_id", required: true, autocomplete: "off", pattern: UUID.source.slice(1, -1), value: view.params.get("stream") ?? "" });
  const form = h("form", { class: "row", "aria-labelledby": "history-heading" },
    field("Stream id", idInput, "An event's, ticket type's or order's id"),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Show history")));
  const known = h("div");

  verify.addEventListener("click", async () => {
    verify.disabled = true;
    fill(verifyResult, h("p", {}, "Replaying every stream…"));
    try {
      const report = await api("/audit/verify", { method: "POST", token: view.token });
      fill(verifyResult,
        h("p", { class: report.ok ? "notice" : "error", dataset: { verified: report.ok ? "ok" : "violations" } },
          report.ok ? `Everything checks out: ${report.checked_events} events replayed, no violations.`
            : `${report.violations.length} violation${report.violations.length === 1 ? "" : "s"} in ${report.checked_events} events replayed.`),
        report.violations.length ? h("ul", { class: "violations" }, report.violations.map(violation)) : null);
    } catch (error) {
      if (error.status === 401) return view.expired();
      fill(verifyResult, h("p", { role: "alert" }, error.message));
    } finally {
      verify.disabled = false;
    }
    return undefined;
  });

  const showHistory = async (id) => {
    fill(history, h("p", {}, "Loading…"));
    try {
      const stream = await api(`/audit/streams/${encodeURIComponent(id)}`, { token: view.token, signal: view.signal });
      const rows = stream.events.map((e) => h("tr", {},
        h("td", { class: "number" }, String(e.version)),
        h("th", { scope: "row" }, e.type),
        h("td", {}, h("time", { datetime: e.timestamp }, when(e.timestamp))),
        h("td", {}, h("pre", { class: "data" }, JSON.stringify(e.data, null, 2)))));
      fill(history, table(`${stream.aggregate_type} ${stream.aggregate_id}: ${stream.events.length} events`,
        [["Version", "number"], "Event", "Recorded", "Data"], rows));
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.status === 401) view.expired();
      else fill(history, h("p", { role: "alert" }, error.status === 404 ? "No stream has that id." : error.message));
    }
  };
  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const id = idInput.value.trim();
    if (!UUID.test(id)) {
      fill(history, h("p", { role: "alert" }, "A stream id is a UUID, such as 3f2b…-…"));
      return;
    }
    const { params } = route();
    params.set("stream", id);
    location.hash = `#/audit?${params}`;
  });

  fill(view.main, h("h1", {}, "Audit"),
    h("section", { "aria-labelledby": "verify-heading" }, h("h2", { id: "verify-heading" }, "Verify"),
      h("p", {}, "Replays every stream and checks that nothing was oversold, every paid order holds a confirmed reservation, revenue adds up and the read models match."),
      h("div", { class: "actions" }, verify), verifyResult),
    h("section", { "aria-labelledby": "history-heading" }, h("h2", { id: "history-heading" }, "History of a stream"), form, history),
    h("section", { "aria-labelledby": "known-heading" }, h("h2", { id: "known-heading" }, "Events and their ticket types"), known));
  view.settle("Audit");

  const stream = view.params.get("stream");
  if (stream && UUID.test(stream)) showHistory(stream);
  try {
    const overview = await api("/admin/insights", { token: view.token, signal: view.signal });
    const titles = await publicTitles(view.signal);
    const link = (id, text) => h("a", { href: `#/audit${query({ stream: id })}` }, text);
    fill(known, overview.events.length === 0 ? h("p", {}, "No events yet.") : table(null,
      ["Event", "Ticket types", ["Revenue", "number"]],
      overview.events.map((e) => h("tr", {},
        h("th", { scope: "row" }, link(e.event_id, titles.get(e.event_id) ?? e.event_id)),
        h("td", {}, h("ul", {}, e.tickets.map((t) => h("li", {}, link(t.ticket_id, t.category))))),
        h("td", { class: "number" }, money(e.revenue, e.currency))))));
  } catch (error) {
    if (error.name !== "AbortError") fill(known, h("p", { role: "alert" }, error.message));
  }
}

/** One broken rule: {check, detail, aggregate_id, version, key}, linked to its stream. */
function violation(v) {
  if (typeof v !== "object" || v === null) return h("li", {}, String(v));
  const where = [v.aggregate_id ? h("a", { href: `#/audit${query({ stream: v.aggregate_id })}` }, v.aggregate_id) : null,
    v.version !== null && v.version !== undefined ? ` at version ${v.version}` : null,
    v.key ? ` (read model ${v.key})` : null];
  return h("li", {}, h("strong", {}, v.check ?? "violation"), ": ", v.detail ?? JSON.stringify(v), where.some(Boolean) ? [" — ", where] : null);
}

/** Titles of the events on sale (the only ones an auditor can read by title). */
async function publicTitles(signal) {
  const titles = new Map();
  try {
    const page = await api("/events?limit=100", { signal });
    for (const event of page.items) titles.set(event.id, event.title);
  } catch {
    // Ids stand in for titles.
  }
  return titles;
}
