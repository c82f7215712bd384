// The admin's events: the list with totals, creating one, and one event's page (details,
// status, ticket types, live insights).
import { api, query } from "./api.js";
import { salesChart } from "./chart.js";
import { announce, field, fill, h, showErrors, table } from "./dom.js";
import { localInput, money, when, withOffset } from "./format.js";

const STATUS_TEXT = { active: "Active", inactive: "Inactive", cancelled: "Cancelled" };
// Command answers are the newest state; the read models catch up within a second.
const answered = new Map();

function badge(status) {
  return h("span", { class: `status status-${status}` }, STATUS_TEXT[status] ?? status);
}

function handle(view, error, where) {
  if (error.name === "AbortError") return;
  if (error.status === 401) {
    view.expired();
    return;
  }
  fill(where, error.message);
}

// -- the list ------------------------------------------------------------------------------------

export async function showEvents(view) {
  const stats = h("dl", { class: "stats", "aria-live": "polite" });
  const body = h("tbody");
  const list = table("Your events", ["Event", "Date", "Status", ["Sold", "number"], ["Revenue", "number"]], []);
  list.querySelector("tbody").replaceWith(body);
  const problem = h("p", { role: "alert" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More events");
  fill(view.main, h("h1", {}, "Events"),
    h("p", {}, h("a", { class: "button", href: "#/events/new" }, "Create an event")),
    h("section", { "aria-labelledby": "totals-heading" }, h("h2", { id: "totals-heading" }, "Totals"), stats),
    problem, list, more);
  view.settle("Events");
  const rows = new Map();
  let overview = { events: [], totals: null };

  const drawTotals = () => {
    const totals = overview.totals;
    if (!totals) return;
    const stat = (label, value, name) => h("div", {}, h("dt", {}, label), h("dd", { dataset: { stat: name } }, value));
    fill(stats,
      stat("Tickets sold", String(totals.tickets_sold), "sold"),
      stat("Revenue", money(totals.revenue, totals.currency), "revenue"),
      stat("Paid orders", String(totals.orders_paid), "paid"),
      stat("Pending orders", String(totals.orders_pending), "pending"),
      stat("Failed orders", String(totals.orders_failed), "failed"),
      stat("Expired orders", String(totals.orders_expired), "expired"));
  };
  const drawRow = (event) => {
    const insights = overview.events.find((i) => i.event_id === event.id);
    const sold = insights ? insights.tickets.reduce((n, t) => n + t.sold, 0) : 0;
    const row = h("tr", { dataset: { event: event.id } },
      h("th", { scope: "row" }, h("a", { href: `#/events/${event.id}` }, event.title)),
      h("td", {}, h("time", { datetime: event.date_time }, when(event.date_time))),
      h("td", {}, badge(event.status)),
      h("td", { class: "number" }, String(sold)),
      h("td", { class: "number" }, insights ? money(insights.revenue, insights.currency) : "—"));
    rows.get(event.id)?.row.replaceWith(row);
    if (!rows.has(event.id)) body.append(row);
    rows.set(event.id, { event, row });
  };
  const refresh = async () => {
    try {
      overview = await api("/admin/insights", { token: view.token, signal: view.signal });
      drawTotals();
      for (const { event } of rows.values()) drawRow(event);
    } catch (error) {
      handle(view, error, problem);
    }
  };
  const load = async (cursor) => {
    try {
      const page = await api(`/admin/events${query({ limit: 50, cursor })}`, { token: view.token, signal: view.signal });
      page.items.forEach(drawRow);
      if (rows.size === 0) fill(body, h("tr", {}, h("td", { colspan: 5 }, "No events yet. Create your first one.")));
      more.hidden = !page.next_cursor;
      more.onclick = () => load(page.next_cursor);
    } catch (error) {
      handle(view, error, problem);
    }
  };
  let pending = null;
  const onChange = () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 300);
  };
  view.live.addEventListener("insights", onChange, { signal: view.signal });
  view.live.addEventListener("live", onChange, { signal: view.signal });
  await refresh();
  await load(null);
}

// -- creating ------------------------------------------------------------------------------------

function eventFields(event = {}) {
  return [
    field("Title", h("input", { name: "title", required: true, maxlength: 200, value: event.title ?? "" })),
    field("Location", h("input", { name: "location", required: true, maxlength: 200, value: event.location ?? "" })),
    field("Date and time", h("input", { type: "datetime-local", name: "date_time", required: true,
      value: event.date_time ? localInput(event.date_time) : "" }), "In your time zone"),
    field("Description", h("textarea", { name: "description", maxlength: 5000 }, event.description ?? "")),
  ];
}

function eventBody(form) {
  const data = Object.fromEntries(new FormData(form));
  return { title: data.title.trim(), location: data.location.trim(), description: data.description, date_time: withOffset(data.date_time) };
}

export function showNewEvent(view) {
  const errors = h("div", { role: "alert", tabindex: -1 });
  const form = h("form", { class: "stack", "aria-labelledby": "new-heading" }, eventFields(), errors,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create event"), h("a", { class: "button secondary", href: "#/events" }, "Back")));
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    if (!form.reportValidity()) return;
    form.querySelector("button").disabled = true;
    try {
      const event = await api("/admin/events", { method: "POST", token: view.token, body: eventBody(form) });
      answered.set(event.id, event);
      announce(`The event ${event.title} was created. Add its ticket types, then activate it.`);
      location.hash = `#/events/${event.id}`;
    } catch (error) {
      if (error.status === 401) return view.expired();
      showErrors(form, errors, error);
      form.querySelector("button").disabled = false;
    }
    return undefined;
  });
  fill(view.main, h("h1", { id: "new-heading" }, "Create an event"),
    h("p", {}, "A new event stays inactive, hidden from the storefront, until you activate it."), form);
  view.settle("Create an event");
}

// -- one event -----------------------------------------------------------------------------------

function zeroInsights(event) {
  return {
    event_id: event.id,
    tickets: event.tickets.map((t) => ({ ticket_id: t.id, category: t.category, total_stock: t.total_stock, sold: t.sold, held: t.held, remaining: t.remaining, revenue: "0.00" })),
    orders: { paid: 0, pending: 0, failed: 0, expired: 0 },
    revenue: "0.00",
    currency: event.tickets[0]?.currency ?? null,
    sales_per_minute: [],
  };
}

export async function showEvent(view, id) {
  let event = answered.get(id);
  try {
    event ??= await api(`/admin/events/${encodeURIComponent(id)}`, { token: view.token, signal: view.signal });
    answered.delete(id);
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error.status === 401) return view.expired();
    fill(view.main, h("h1", {}, "Event not found"), h("p", {}, error.status === 404 ? "There is no such event among yours." : error.message),
      h("p", {}, h("a", { href: "#/events" }, "Back to your events")));
    view.settle("Event not found");
    return;
  }
  const page = eventPage(view, event);
  fill(view.main, page.content);
  view.settle(event.title);
  await page.start();
}

function eventPage(view, initial) {
  let event = initial;
  let insights = zeroInsights(event);
  const heading = h("h1", {});
  const status = h("p", {});
  const notice = h("p", { class: "notice", role: "status" });
  const details = h("section", { "aria-labelledby": "details-heading" });
  const actions = h("section", { "aria-labelledby": "status-heading" });
  const ticketsBox = h("div");
  const addTicket = h("section", { "aria-labelledby": "add-ticket-heading" });
  const numbers = h("div", { "aria-live": "polite" });
  const chart = salesChart();
  view.signal.addEventListener("abort", chart.stop, { once: true });

  const say = (text) => {
    notice.textContent = text;
    announce(text);
  };
  const call = async (path, options, errors) => {
    try {
      return await api(path, { token: view.token, ...options });
    } catch (error) {
      if (error.status === 401) view.expired();
      else if (errors) showErrors(errors.form, errors.summary, error);
      else say(error.message);
      return null;
    }
  };
  const changed = (next) => {
    event = next;
    insights = { ...insights, tickets: event.tickets.map((t) => insights.tickets.find((i) => i.ticket_id === t.id) ?? zeroInsights(event).tickets.find((z) => z.ticket_id === t.id)) };
    drawAll();
  };

  const drawDetails = () => {
    const errors = h("div", { role: "alert", tabindex: -1 });
    const form = h("form", { class: "stack" }, eventFields(event), errors, h("div", { class: "actions" }, h("button", { type: "submit" }, "Save details")));
    form.addEventListener("submit", async (submitted) => {
      submitted.preventDefault();
      if (!form.reportValidity()) return;
      const next = await call(`/admin/events/${event.id}`, { method: "PATCH", body: eventBody(form) }, { form, summary: errors });
      if (next) {
        changed(next);
        say("The details were saved.");
      }
    });
    fill(details, h("h2", { id: "details-heading" }, "Details"), form);
  };

  const setStatus = async (next, question) => {
    if (question && !confirm(question)) return;
    const answer = await call(`/admin/events/${event.id}/status`, { method: "POST", body: { status: next } });
    if (answer) {
      changed(answer);
      say(`The event is now ${STATUS_TEXT[answer.status].toLowerCase()}.`);
    }
  };
  const drawActions = () => {
    const buttons = [];
    if (event.status === "inactive") {
      buttons.push(h("button", { type: "button", onclick: () => setStatus("active"), disabled: event.tickets.length === 0 }, "Activate"));
    }
    if (event.status === "active") buttons.push(h("button", { type: "button", class: "secondary", onclick: () => setStatus("inactive") }, "Deactivate"));
    if (event.status !== "cancelled") {
      buttons.push(h("button", { type: "button", class: "danger", onclick: () => setStatus("cancelled", `Cancel ${event.title}? Cancelling is final.`) }, "Cancel event"));
    }
    const sold = insights.tickets.some((t) => t.sold > 0 || t.held > 0);
    if (!sold) {
      buttons.push(h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Delete ${event.title}? This cannot be undone.`)) return;
        try {
          await api(`/admin/events/${event.id}`, { method: "DELETE", token: view.token });
          announce("The event was deleted.");
          location.hash = "#/events";
        } catch (error) {
          if (error.status === 401) view.expired();
          else say(error.message);
        }
      } }, "Delete event"));
    }
    fill(actions, h("h2", { id: "status-heading" }, "Status"),
      h("p", {}, event.status === "inactive" && event.tickets.length === 0 ? "Add a ticket type before activating." :
        event.status === "cancelled" ? "This event is cancelled; that is final." :
          event.status === "active" ? "On the storefront." : "Hidden from the storefront."),
      h("div", { class: "actions" }, buttons));
  };

  const ticketForm = (ticket, onSaved) => {
    const errors = h("div", { role: "alert", tabindex: -1 });
    const start = ticket?.sales_start ?? new Date();
    const end = ticket?.sales_end ?? event.date_time;
    const fields = [
      ticket ? null : field("Category", h("input", { name: "category", required: true, maxlength: 200 }), "Such as VIP or Regular"),
      h("div", { class: "row" },
        field("Price", h("input", { name: "price", required: true, inputmode: "decimal", pattern: "(0|[1-9][0-9]{0,12})\\.[0-9]{2}", value: ticket?.price ?? "" }), "Two decimals, such as 25.00"),
        ticket ? null : field("Currency", h("input", { name: "currency", required: true, pattern: "[A-Z]{3}", maxlength: 3, value: event.tickets[0]?.currency ?? "", autocapitalize: "characters" }), "ISO code, such as KES"),
        field("Stock", h("input", { type: "number", name: "total_stock", required: true, min: 0, max: 10000000, value: ticket?.total_stock ?? "" }))),
      h("div", { class: "row" },
        field("Sales start", h("input", { type: "datetime-local", name: "sales_start", required: true, value: localInput(start) })),
        field("Sales end", h("input", { type: "datetime-local", name: "sales_end", required: true, value: localInput(end) }))),
    ];
    const form = h("form", { class: "stack" }, fields, errors,
      h("div", { class: "actions" }, h("button", { type: "submit" }, ticket ? `Save ${ticket.category}` : "Add ticket type")));
    form.addEventListener("submit", async (submitted) => {
      submitted.preventDefault();
      if (!form.reportValidity()) return;
      const data = Object.fromEntries(new FormData(form));
      const body = {
        price: data.price.trim(),
        total_stock: Number.parseInt(data.total_stock, 10),
        sales_start: withOffset(data.sales_start),
        sales_end: withOffset(data.sales_end),
      };
      if (!ticket) Object.assign(body, { category: data.category.trim(), currency: data.currency.trim().toUpperCase() });
      const path = ticket ? `/admin/tickets/${ticket.id}` : `/admin/events/${event.id}/tickets`;
      const saved = await call(path, { method: ticket ? "PATCH" : "POST", body }, { form, summary: errors });
      if (saved) onSaved(saved);
    });
    return form;
  };
  const savedTicket = (saved, verb) => {
    const tickets = event.tickets.some((t) => t.id === saved.id)
      ? event.tickets.map((t) => (t.id === saved.id ? saved : t))
      : [...event.tickets, saved];
    changed({ ...event, tickets });
    say(`The ticket type ${saved.category} was ${verb}.`);
  };

  const drawTickets = () => {
    const rows = event.tickets.map((ticket) => h("tr", { dataset: { ticket: ticket.id } },
      h("th", { scope: "row" }, ticket.category),
      h("td", { class: "number" }, money(ticket.price, ticket.currency)),
      h("td", { class: "number" }, String(ticket.total_stock)),
      h("td", {}, h("time", { datetime: ticket.sales_start }, when(ticket.sales_start)), " – ",
        h("time", { datetime: ticket.sales_end }, when(ticket.sales_end)))));
    fill(ticketsBox, h("h2", { id: "tickets-heading" }, "Ticket types"),
      event.tickets.length ? table(null, ["Category", ["Price", "number"], ["Stock", "number"], "Sales window"], rows) : h("p", {}, "No ticket types yet."),
      event.tickets.map((ticket) => h("details", {}, h("summary", {}, `Change ${ticket.category}`),
        ticketForm(ticket, (saved) => savedTicket(saved, "saved")))));
    fill(addTicket, h("h2", { id: "add-ticket-heading" }, "Add a ticket type"),
      event.status === "cancelled" ? h("p", {}, "A cancelled event takes no new ticket types.") : ticketForm(null, (saved) => savedTicket(saved, "added")));
  };

  const drawNumbers = () => {
    const stat = (label, value, name) => h("div", {}, h("dt", {}, label), h("dd", { dataset: { stat: name } }, value));
    const sum = (key) => insights.tickets.reduce((n, t) => n + t[key], 0);
    const rows = insights.tickets.map((t) => h("tr", { dataset: { ticket: t.ticket_id } },
      h("th", { scope: "row" }, t.category),
      h("td", { class: "number", dataset: { cell: "sold" } }, String(t.sold)),
      h("td", { class: "number", dataset: { cell: "held" } }, String(t.held)),
      h("td", { class: "number", dataset: { cell: "remaining" } }, String(t.remaining)),
      h("td", { class: "number", dataset: { cell: "revenue" } }, money(t.revenue, insights.currency))));
    fill(numbers,
      h("dl", { class: "stats" },
        stat("Sold", String(sum("sold")), "sold"), stat("Held", String(sum("held")), "held"),
        stat("Remaining", String(sum("remaining")), "remaining"), stat("Revenue", money(insights.revenue, insights.currency), "revenue")),
      table("Per ticket type", ["Category", ["Sold", "number"], ["Held", "number"], ["Remaining", "number"], ["Revenue", "number"]], rows, { class: "ticket-insights" }),
      h("h3", {}, "Orders by status"),
      h("dl", { class: "stats" },
        stat("Paid", String(insights.orders.paid), "orders-paid"), stat("Pending", String(insights.orders.pending), "orders-pending"),
        stat("Failed", String(insights.orders.failed), "orders-failed"), stat("Expired", String(insights.orders.expired), "orders-expired")));
    chart.draw(insights.sales_per_minute, insights.currency);
  };

  const drawAll = () => {
    fill(heading, event.title);
    fill(status, "Status: ", badge(event.status), " · ", h("time", { datetime: event.date_time }, when(event.date_time)), " · ", event.location);
    drawDetails();
    drawActions();
    drawTickets();
    drawNumbers();
  };

  const content = [
    h("p", {}, h("a", { href: "#/events" }, "← Your events")),
    heading, status, notice,
    h("section", { "aria-labelledby": "insights-heading" }, h("h2", { id: "insights-heading" }, "Live insights"), numbers, chart.figure),
    ticketsBox, addTicket, actions, details,
  ];
  drawAll();

  const accept = (next) => {
    if (next.event_id !== event.id) return;
    insights = next;
    drawNumbers();
    drawActions();
  };
  const refresh = async () => {
    // The overview is there even before this event's read model is; a new event has no sales.
    try {
      const overview = await api("/admin/insights", { token: view.token, signal: view.signal });
      const found = overview.events.find((i) => i.event_id === event.id);
      if (found) accept(found);
    } catch (error) {
      if (error.status === 401) view.expired();
    }
  };
  const start = async () => {
    view.live.addEventListener("insights", (e) => accept(e.detail), { signal: view.signal });
    view.live.addEventListener("live", refresh, { signal: view.signal });
    await refresh();
  };
  return { content, start };
}
