// Auditors (and superadmins): the replay that verifies everything, the history of any stream and
// an event as it stood at any moment. Built on API.md's Audit contract and its Additions:
// POST /audit/verify, GET /audit/streams/{id} and GET /audit/events/{id}/state?as_of=.
//
// The view is drawn from the hash (#/audit?stream=…&event=…&as_of=…), so links can be shared and
// "Back" works. Following a link draws the view again; what is not in the hash (the last
// verification) is kept here so that it survives.
import { api, query } from "./api.js";
import { announce, field, fill, h, table } from "./dom.js";
import { exactly, localInput, money, withOffset } from "./format.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_INSIDE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const TITLE_PAGES = 5;

/** The last verification while the page is open: {token, report, at}; and one still running. */
let lastVerification = null;
let verifying = null;
/** Links within the view as last drawn (a verification may finish after a redraw). */
let linkHere = (changes) => `#/audit${query(changes)}`;

const uuidOr = (value) => (value && UUID.test(value) ? value : null);

export async function showAudit(view) {
  const { params } = view;
  const streamId = uuidOr(params.get("stream"));
  const stateId = uuidOr(params.get("event"));
  const asOf = stateId ? params.get("as_of") : null;
  // Drawn over an audit view (a link on this page was followed): what changed gets the focus.
  const before = view.main.querySelector("h1[data-view=audit]")?.dataset.params;
  const previous = before === undefined ? null : new URLSearchParams(before);
  const changed = (...names) => previous !== null && names.some((name) => previous.get(name) !== params.get(name));
  /** A link within the view: the current parameters with some changed. */
  const at = (changes) => `#/audit${query({ ...Object.fromEntries(params), ...changes })}`;
  linkHere = at;
  const context = { view, at };

  // Verify.
  const verifyResult = h("div", { "aria-live": "polite", id: "verify-result" });
  const verify = h("button", { type: "button", dataset: { action: "verify" } }, "Verify every stream");
  if (verifying) {
    verify.disabled = true;
    fill(verifyResult, h("p", {}, "Replaying every stream…"));
  } else if (lastVerification?.token === view.token) {
    drawReport(verifyResult, lastVerification);
  }
  verify.addEventListener("click", () => runVerification(view));

  // History of a stream.
  const idInput = h("input", { name: "stream", required: true, autocomplete: "off", spellcheck: "false",
    pattern: UUID.source.slice(1, -1), value: params.get("stream") ?? "" });
  const historyForm = h("form", { class: "row", "aria-labelledby": "history-heading" },
    field("Stream id", idInput, "An event's, ticket type's or order's id"),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Show history")));
  const history = h("div");
  if (params.get("stream") && !streamId) fill(history, h("p", { role: "alert" }, "A stream id is a UUID, such as 3f2b9c1e-…"));
  historyForm.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const id = idInput.value.trim();
    if (!UUID.test(id)) {
      fill(history, h("p", { role: "alert" }, "A stream id is a UUID, such as 3f2b9c1e-…"));
      return;
    }
    // The same stream again is read again; another one is a new link (for "Back").
    if (id === streamId) showHistory(context, history, id, true);
    else location.hash = at({ stream: id });
  });

  // An event at a moment.
  const eventSelect = h("select", { name: "event", required: true });
  chooseEvents(eventSelect, [], stateId);
  const asOfInput = h("input", { type: "datetime-local", name: "as_of", required: true, step: 1,
    value: localInput(asOf ?? new Date(), { seconds: true }) });
  const stateErrors = h("div", { role: "alert" });
  const stateForm = h("form", { class: "row", "aria-labelledby": "state-heading" },
    field("Event", eventSelect),
    field("As of", asOfInput, "In your time zone, to the second"),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Show state")));
  const state = h("div");
  stateForm.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const moment = withOffset(asOfInput.value);
    if (!eventSelect.value || !moment) {
      stateErrors.textContent = !eventSelect.value ? "Choose an event." : "Enter a date and a time.";
      return;
    }
    stateErrors.textContent = "";
    if (eventSelect.value === stateId && moment === asOf) showState(context, state, stateId, asOf, true);
    else location.hash = at({ event: eventSelect.value, as_of: moment });
  });

  const known = h("div");

  const heading = (id, text) => h("h2", { id, tabindex: -1 }, text);
  fill(view.main, h("h1", { dataset: { view: "audit", params: params.toString() } }, "Audit"),
    h("section", { "aria-labelledby": "verify-heading" }, heading("verify-heading", "Verify"),
      h("p", {}, "Replays every stream and checks that nothing was oversold, every paid order holds a confirmed reservation, revenue adds up and the read models match."),
      h("div", { class: "actions" }, verify), verifyResult),
    h("section", { "aria-labelledby": "history-heading" }, heading("history-heading", "History of a stream"), historyForm, history),
    h("section", { "aria-labelledby": "state-heading" }, heading("state-heading", "An event at a moment"),
      h("p", {}, "The event and its ticket types replayed from their history up to that moment."),
      stateForm, stateErrors, state),
    h("section", { "aria-labelledby": "known-heading" }, heading("known-heading", "Events and their ticket types"), known));
  const focusOn = changed("event", "as_of") ? "state-heading" : changed("stream") ? "history-heading" : null;
  view.settle("Audit", { focus: focusOn === null });
  if (focusOn) document.getElementById(focusOn).focus();

  const overview = api("/admin/insights", { token: view.token, signal: view.signal });
  const titles = publicTitles(view.signal);
  await Promise.all([
    streamId ? showHistory(context, history, streamId, changed("stream")) : null,
    stateId ? showState(context, state, stateId, asOf, changed("event", "as_of")) : null,
    showKnown(context, known, eventSelect, stateId, overview, titles),
  ]);
}

async function runVerification(view) {
  if (verifying) return;
  const region = () => document.getElementById("verify-result");
  const button = () => document.querySelector("button[data-action=verify]");
  verifying = api("/audit/verify", { method: "POST", token: view.token });
  fill(region(), h("p", {}, "Replaying every stream…"));
  button().disabled = true;
  try {
    lastVerification = { token: view.token, report: await verifying, at: new Date().toISOString() };
    if (region()) drawReport(region(), lastVerification);
  } catch (error) {
    if (error.status === 401) {
      view.expired();
      return;
    }
    if (region()) fill(region(), h("p", { role: "alert" }, error.message));
  } finally {
    verifying = null;
    if (button()) button().disabled = false;
  }
}

function drawReport(region, { report, at: checkedAt }) {
  const count = report.violations.length;
  const fact = (term, value) => (value === undefined || value === null ? null : [h("dt", {}, term), h("dd", {}, value)]);
  fill(region,
    h("p", { class: report.ok ? "notice" : "error", dataset: { verified: report.ok ? "ok" : "violations" } },
      report.ok ? `OK: no violations in ${report.checked_events} events replayed.`
        : `${count} violation${count === 1 ? "" : "s"} found in ${report.checked_events} events replayed.`),
    h("dl", { class: "facts" },
      fact("Checked", h("time", { datetime: checkedAt }, exactly(checkedAt))),
      fact("Streams", report.streams),
      fact("Read models", report.read_models),
      fact("Took", typeof report.seconds === "number" ? `${report.seconds.toFixed(2)} s` : null)),
    count ? h("ul", { class: "violations", "aria-label": "Violations" }, report.violations.map(violation)) : null);
}

/** One broken rule, {check, detail, aggregate_id, version, key}, linked to the stream it names. */
function violation(v) {
  if (typeof v !== "object" || v === null) return h("li", {}, String(v));
  // A read model's key ends in the id of the event or ticket type it describes.
  const stream = v.aggregate_id ?? UUID_INSIDE.exec(v.key ?? "")?.[0];
  const where = [
    v.version !== null && v.version !== undefined ? `at version ${v.version}` : null,
    v.key ? ["read model ", h("code", {}, v.key)] : null,
    stream ? h("a", { href: linkHere({ stream }) }, `history of ${stream}`) : null,
  ].filter(Boolean);
  return h("li", { dataset: { check: v.check ?? "" } }, h("strong", {}, v.check ?? "violation"), ": ", v.detail ?? JSON.stringify(v),
    where.length ? [" — ", where.flatMap((part, index) => (index ? ["; ", part] : [part]))] : null);
}

async function showHistory({ view, at }, region, id, announced) {
  fill(region, h("p", {}, "Loading…"));
  try {
    const stream = await api(`/audit/streams/${encodeURIComponent(id)}`, { token: view.token, signal: view.signal });
    // A concert's latest title, or a ticket type's category.
    const title = stream.events.findLast((e) => typeof e.data?.title === "string")?.data.title ??
      stream.events.findLast((e) => typeof e.data?.category === "string")?.data.category;
    // The event a stream belongs to, for "State then": a concert is one; its tickets and orders name it.
    const eventId = stream.aggregate_type === "Concert" ? stream.aggregate_id : uuidOr(stream.events[0]?.data?.event_id);
    const names = await accountNames(view);
    const rows = stream.events.map((e) => h("tr", { dataset: { version: e.version } },
      h("td", { class: "number" }, String(e.version)),
      h("th", { scope: "row" }, e.type),
      h("td", { dataset: { cell: "recorded" } }, h("time", { datetime: e.timestamp }, exactly(e.timestamp))),
      h("td", { dataset: { cell: "actor" } }, actor(e.actor, view.me, names)),
      h("td", {}, h("pre", { class: "data" }, JSON.stringify(e.data, null, 2))),
      h("td", {}, eventId ? h("a", { href: at({ event: eventId, as_of: e.timestamp }) },
        "State then", h("span", { class: "visually-hidden" }, ` (after version ${e.version})`)) : null)));
    const what = `${stream.aggregate_type}${title ? ` “${title}”` : ""}`;
    fill(region,
      h("p", {}, what, " ", h("code", {}, stream.aggregate_id), stream.service ? ` in the ${stream.service} service` : ""),
      table(`${what}: ${stream.events.length} event${stream.events.length === 1 ? "" : "s"}`,
        [["Version", "number"], "Event", "Recorded", "By", "Data", h("span", { class: "visually-hidden" }, "State")], rows,
        { class: "history" }));
    if (announced) announce(`History of ${what}: ${stream.events.length} events.`);
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error.status === 401) view.expired();
    else fill(region, h("p", { role: "alert" }, error.status === 404 ? "Nothing was ever recorded under that id." : error.message));
  }
}

/** Who caused an event: a JWT subject (an account id), or null for customers and the system. */
function actor(id, me, names) {
  if (!id) return h("span", { class: "muted" }, "a customer or the system");
  if (id === me.id) return [h("code", {}, id), ` (you, ${me.email})`];
  const email = names.get(id);
  return email ? [h("code", {}, id), ` (${email})`] : h("code", {}, id);
}

/** Account ids to e-mails, for superadmins (the only role that may list accounts). */
async function accountNames(view) {
  const names = new Map();
  if (view.me.role !== "superadmin") return names;
  try {
    const page = await api("/admin/users?limit=100", { token: view.token, signal: view.signal });
    for (const user of page.items ?? page) names.set(user.id, user.email);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    // Ids stand in for e-mails.
  }
  return names;
}

async function showState({ view, at }, region, eventId, asOf, announced) {
  fill(region, h("p", {}, "Replaying…"));
  try {
    // Before its first event the event did not exist: say so, with when it came to be, rather
    // than ask for a state the API can only refuse (404).
    if (asOf) {
      const stream = await api(`/audit/streams/${encodeURIComponent(eventId)}`, { token: view.token, signal: view.signal });
      const created = stream.events[0]?.timestamp;
      if (created && Date.parse(asOf) < Date.parse(created)) {
        fill(region, h("p", { role: "alert" }, "That event did not exist yet at ", h("time", { datetime: asOf }, exactly(asOf)),
          ": it was created at ", h("time", { datetime: created }, exactly(created)), "."));
        return;
      }
    }
    const answer = await api(`/audit/events/${encodeURIComponent(eventId)}/state${query({ as_of: asOf })}`,
      { token: view.token, signal: view.signal });
    const { event, tickets } = answer;
    const moment = h("time", { datetime: answer.as_of }, exactly(answer.as_of));
    const cell = (name, value) => h("td", { class: "number", dataset: { cell: name } }, String(value));
    const rows = tickets.map((t) => h("tr", {},
      h("th", { scope: "row" }, h("a", { href: at({ stream: t.ticket_id }) }, t.category), t.deleted ? " (deleted)" : null),
      cell("total", t.total_stock), cell("sold", t.sold), cell("held", t.held), cell("remaining", t.remaining)));
    fill(region,
      h("dl", { class: "facts" },
        h("dt", {}, "Event"), h("dd", {}, h("a", { href: at({ stream: eventId }) }, event.title ?? eventId)),
        h("dt", {}, "As of"), h("dd", {}, moment),
        h("dt", {}, "Status"), h("dd", { dataset: { fact: "status" } }, event.deleted ? `${event.status}, deleted` : event.status),
        h("dt", {}, "Version"), h("dd", {}, String(event.version))),
      tickets.length === 0 ? h("p", {}, "No ticket types yet at that moment.")
        : table(["Tickets as of ", moment.cloneNode(true)],
          ["Ticket type", ["Total stock", "number"], ["Sold", "number"], ["Held", "number"], ["Remaining", "number"]],
          rows, { class: "state" }));
    if (announced) announce(`${event.title ?? "The event"} as of ${exactly(answer.as_of)}: ${tickets.length} ticket types.`);
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error.status === 401) view.expired();
    else {
      fill(region, h("p", { role: "alert" }, error.status === 404
        ? ["That event did not exist yet at ", h("time", { datetime: asOf }, exactly(asOf)), "."]
        : error.message));
    }
  }
}

async function showKnown({ view, at }, region, eventSelect, stateId, overviewAnswer, titlesAnswer) {
  try {
    const [overview, titles] = await Promise.all([overviewAnswer, titlesAnswer]);
    const link = (id, text) => h("a", { href: at({ stream: id }) }, text);
    const events = overview.events.map((e) => ({ ...e, title: titles.get(e.event_id) ?? e.event_id }));
    chooseEvents(eventSelect, events, eventSelect.value || stateId);
    fill(region, events.length === 0 ? h("p", {}, "No events yet.") : table(null,
      ["Event", "Ticket types", ["Revenue", "number"]],
      events.map((e) => h("tr", {},
        h("th", { scope: "row" }, link(e.event_id, e.title)),
        h("td", {}, h("ul", {}, e.tickets.map((t) => h("li", {}, link(t.ticket_id, t.category))))),
        h("td", { class: "number" }, money(e.revenue, e.currency))))));
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error.status === 401) view.expired();
    else fill(region, h("p", { role: "alert" }, error.message));
  }
}

/** The event picker's options: the known events, and the chosen one even when it is not known. */
function chooseEvents(select, events, chosen) {
  const options = events.map((e) => h("option", { value: e.event_id }, e.title));
  if (chosen && !events.some((e) => e.event_id === chosen)) options.unshift(h("option", { value: chosen }, chosen));
  if (!chosen) options.unshift(h("option", { value: "" }, events.length ? "Choose an event" : "No events yet"));
  fill(select, options);
  select.value = chosen ?? "";
}

/** Titles of the events on sale, the only ones an auditor can read by title (ids stand in). */
async function publicTitles(signal) {
  const titles = new Map();
  let cursor = null;
  try {
    for (let page = 0; page < TITLE_PAGES; page += 1) {
      const answer = await api(`/events${query({ limit: 100, cursor })}`, { signal });
      for (const event of answer.items) titles.set(event.id, event.title);
      cursor = answer.next_cursor;
      if (!cursor) break;
    }
  } catch (error) {
    if (error.name === "AbortError") throw error;
    // Ids stand in for titles.
  }
  return titles;
}
