// The storefront: upcoming events, an event's tickets and the buy form, an order and its receipt.
import { api, ApiError, query } from "./api.js";
import { announce, field, fill, h, randomKey, settle, showErrors, skipLink } from "./dom.js";
import { money, times, when } from "./format.js";
import { follow, match } from "./router.js";

const SITE = "Tickets";
const PAGE_SIZE = 20;
const AVAILABILITY_SECONDS = 5;
const ORDER_POLL_SECONDS = 3;
const RECENT_ORDERS = "ticketing.recent-orders";
const main = document.getElementById("main");
let keepFocus = false;

const STATUS_TEXT = {
  pending: "Waiting for payment",
  paid: "Paid",
  failed: "Payment declined",
  expired: "Expired",
  refunded: "Refunded",
};

function render({ path, params }, signal) {
  const focus = !keepFocus;
  keepFocus = false;
  let found;
  if (path === "/") return showEvents(params, signal, focus);
  if ((found = match("/events/:id", path))) return showEvent(found.id, signal);
  if (path === "/orders") return showRecentOrders();
  if ((found = match("/orders/:id", path))) return showOrder(found.id, params.get("token"), signal);
  fill(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "See upcoming events")));
  return settle("Page not found", SITE);
}

function failure(error) {
  return h("p", { role: "alert" }, error instanceof ApiError ? error.message : "Something went wrong.");
}

function sleep(seconds, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, seconds * 1000);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// -- the listing ---------------------------------------------------------------------------------

async function showEvents(params, signal, focus) {
  const q = params.get("q") ?? "";
  const from = params.get("from") ?? "";
  const to = params.get("to") ?? "";
  const form = h("form", { role: "search", "aria-label": "Find events", class: "row" },
    field("Search", h("input", { type: "search", name: "q", value: q, maxlength: 200, autocomplete: "off" }),
      "Artist, title or place"),
    field("From", h("input", { type: "date", name: "from", value: from })),
    field("To", h("input", { type: "date", name: "to", value: to })),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Search"),
      q || from || to ? h("a", { class: "button secondary", href: "#/" }, "Clear") : null),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    keepFocus = true;
    location.hash = `#/${query({ q: data.get("q").trim(), from: data.get("from"), to: data.get("to") })}`;
  });
  const summary = h("p", { role: "status" });
  const list = h("ul", { class: "cards", "aria-label": "Events" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More events");
  fill(main, h("h1", {}, "Upcoming events"), form, summary, list, more);
  settle("Upcoming events", SITE, { focus });
  // Upcoming: from now unless the reader chose a day.
  // (to the minute, so that the same search is the same URL for the HTTP cache).
  const now = new Date();
  now.setSeconds(0, 0);
  const filters = { q, from: from || now.toISOString(), to, limit: PAGE_SIZE };
  let shown = 0;
  const load = async (cursor) => {
    more.disabled = true;
    try {
      const page = await api(`/events${query({ ...filters, cursor })}`, { signal });
      list.append(...page.items.map(eventCard));
      shown += page.items.length;
      summary.textContent = shown === 0
        ? "No upcoming events match. Try other words or dates."
        : `${shown} event${shown === 1 ? "" : "s"}${page.next_cursor ? " so far" : ""}.`;
      more.hidden = !page.next_cursor;
      more.onclick = () => load(page.next_cursor);
    } catch (error) {
      if (error.name !== "AbortError") summary.replaceWith(failure(error));
    } finally {
      more.disabled = false;
    }
  };
  await load(null);
}

function eventCard(event) {
  let price = "Not on sale";
  if (event.status === "cancelled") price = "Cancelled";
  else if (event.available) price = `From ${money(event.min_price, event.currency)}`;
  else if (event.min_price) price = "Sold out or not on sale";
  return h("li", { class: "card" },
    h("article", {},
      h("h2", {}, h("a", { href: `#/events/${event.id}` }, event.title)),
      h("p", {}, h("time", { datetime: event.date_time }, when(event.date_time))),
      h("p", {}, event.location),
      h("p", { class: event.available ? "" : "muted" }, price)),
  );
}

// -- one event and the buy form ------------------------------------------------------------------

function availability(ticket) {
  if (ticket.on_sale) return `${ticket.remaining} left`;
  if (ticket.remaining === 0) return "Sold out";
  const now = Date.now();
  if (now < Date.parse(ticket.sales_start)) return `On sale from ${when(ticket.sales_start)}`;
  if (now > Date.parse(ticket.sales_end)) return "Sales ended";
  return "Not on sale";
}

async function showEvent(id, signal) {
  let event;
  try {
    event = await api(`/events/${encodeURIComponent(id)}`, { signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    fill(main, h("h1", {}, "Event not found"),
      error.status === 404 ? h("p", {}, "This event does not exist or is not on sale.") : failure(error),
      h("p", {}, h("a", { href: "#/" }, "See upcoming events")));
    settle("Event not found", SITE);
    return;
  }
  const ticketList = h("ul", { class: "cards", "aria-label": "Ticket categories" });
  const buy = buyForm(event);
  const drawTickets = (tickets) => {
    fill(ticketList, tickets.map((ticket) => h("li", { class: "card", dataset: { ticket: ticket.id } },
      h("h3", {}, ticket.category),
      h("p", { class: "price" }, money(ticket.price, ticket.currency)),
      h("p", { class: "availability" }, availability(ticket)),
      h("p", { class: "muted" }, "On sale ", h("time", { datetime: ticket.sales_start }, when(ticket.sales_start)),
        " to ", h("time", { datetime: ticket.sales_end }, when(ticket.sales_end))))));
    buy.update(tickets);
  };
  fill(main,
    h("p", {}, h("a", { href: "#/" }, "← All events")),
    h("h1", {}, event.title),
    h("p", {}, h("time", { datetime: event.date_time }, when(event.date_time)), " · ", event.location),
    event.status === "cancelled" ? h("p", { role: "alert" }, "This event was cancelled.") : null,
    event.description ? h("p", {}, event.description) : null,
    h("section", { "aria-labelledby": "tickets-heading" },
      h("h2", { id: "tickets-heading" }, "Tickets"), ticketList),
    event.status === "active" ? buy.section : null,
  );
  drawTickets(event.tickets);
  settle(event.title, SITE);
  // Live availability: the read model changes with every hold and sale.
  while (!signal.aborted && event.status === "active") {
    await sleep(AVAILABILITY_SECONDS, signal);
    if (signal.aborted || document.hidden) continue;
    try {
      drawTickets((await api(`/events/${encodeURIComponent(id)}/tickets`, { signal })).items);
    } catch {
      // A missed refresh is retried at the next tick.
    }
  }
}

function buyForm(event) {
  const choices = h("div", { class: "stack" });
  const quantity = h("input", { type: "number", name: "quantity", min: 1, max: 10, value: 1, required: true, inputmode: "numeric" });
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "email", maxlength: 254 });
  const phone = h("input", { type: "tel", name: "phone_number", required: true, autocomplete: "tel", pattern: "\\+[1-9][0-9]{6,14}", placeholder: "+254712345678" });
  const total = h("p", { "aria-live": "polite", class: "total" });
  const errors = h("div", { role: "alert", tabindex: -1 });
  const submit = h("button", { type: "submit" }, "Buy and pay");
  const form = h("form", { class: "stack", "aria-labelledby": "buy-heading", novalidate: true },
    h("fieldset", {}, h("legend", {}, "Ticket category"), choices,
      h("span", { class: "error", id: "ticket-error", dataset: { errorFor: "ticket_id" } })),
    field("Quantity", quantity, "1 to 10 tickets"),
    field("E-mail", email, "Your receipt and tickets go here"),
    field("Phone number", phone, "International format, such as +254712345678"),
    total, errors, h("div", { class: "actions" }, submit));
  let tickets = [];
  let attempt = null;  // the last body and its Idempotency-Key: a retry must not buy twice

  const selected = () => tickets.find((t) => t.id === form.elements.namedItem("ticket_id")?.value);
  const showTotal = () => {
    const ticket = selected();
    const count = Number.parseInt(quantity.value, 10);
    const sum = ticket && Number.isInteger(count) && count >= 1 && count <= 10 ? times(ticket.price, count) : null;
    total.textContent = sum ? `Total: ${money(sum, ticket.currency)}` : "";
  };
  const update = (latest) => {
    const chosen = selected()?.id ?? latest.find((t) => t.on_sale)?.id;
    tickets = latest;
    fill(choices, latest.map((ticket) => {
      const id = `ticket-${ticket.id}`;
      return h("div", {},
        h("input", { type: "radio", name: "ticket_id", id, value: ticket.id, required: true,
          disabled: !ticket.on_sale, checked: ticket.id === chosen && ticket.on_sale }),
        " ",
        h("label", { for: id }, `${ticket.category} — ${money(ticket.price, ticket.currency)} (${availability(ticket)})`));
    }));
    const ticket = selected();
    quantity.max = String(Math.max(1, Math.min(10, ticket?.remaining ?? 10)));
    submit.disabled = !latest.some((t) => t.on_sale);
    showTotal();
  };
  form.addEventListener("input", showTotal);
  form.addEventListener("change", showTotal);
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const ticket = selected();
    const body = {
      event_id: event.id, ticket_id: ticket?.id, quantity: Number.parseInt(quantity.value, 10),
      email: email.value.trim(), phone_number: phone.value.replace(/[\s()-]/g, ""),
    };
    const local = [];
    if (!ticket) local.push({ field: "ticket_id", message: "Choose a ticket category." });
    if (!quantity.checkValidity() || !Number.isInteger(body.quantity)) local.push({ field: "quantity", message: `Choose 1 to ${quantity.max} tickets.` });
    if (!email.checkValidity() || !body.email) local.push({ field: "email", message: "Enter the e-mail address for your receipt." });
    if (!/^\+[1-9][0-9]{6,14}$/.test(body.phone_number)) local.push({ field: "phone_number", message: "Enter the number with its country code, such as +254712345678." });
    if (local.length) {
      showErrors(form, errors, { message: "Please correct the marked fields.", fieldErrors: local });
      return;
    }
    const fingerprint = JSON.stringify(body);
    if (attempt?.fingerprint !== fingerprint) attempt = { fingerprint, key: randomKey() };
    submit.disabled = true;
    showErrors(form, errors, null);
    try {
      const order = await api("/orders", { method: "POST", body, headers: { "Idempotency-Key": attempt.key } });
      remember(order, event);
      const page = `#/orders/${order.id}?token=${encodeURIComponent(order.order_token)}`;
      if (order.status === "pending" && order.payment?.checkout_url) {
        // Back from the checkout lands on the order page, not on this form.
        history.replaceState(null, "", page);
        announce("Order placed. Taking you to the payment page.");
        location.assign(order.payment.checkout_url);
      } else {
        location.hash = page;
      }
    } catch (error) {
      submit.disabled = false;
      const messages = {
        sold_out: "Not enough tickets are left for that quantity. Choose fewer, or another category.",
        not_on_sale: "These tickets are not on sale right now.",
      };
      showErrors(form, errors, { message: messages[error.code] ?? error.message, fieldErrors: error.fieldErrors });
    }
  });
  const section = h("section", { "aria-labelledby": "buy-heading" }, h("h2", { id: "buy-heading" }, "Buy tickets"), form);
  return { section, update };
}

// -- orders --------------------------------------------------------------------------------------

function recentOrders() {
  try {
    const stored = JSON.parse(localStorage.getItem(RECENT_ORDERS) ?? "[]");
    return Array.isArray(stored) ? stored : [];
  } catch {
    return [];
  }
}

function remember(order, event) {
  const others = recentOrders().filter((o) => o.id !== order.id);
  const entry = { id: order.id, token: order.order_token, title: event.title, date_time: event.date_time };
  try {
    localStorage.setItem(RECENT_ORDERS, JSON.stringify([entry, ...others].slice(0, 20)));
  } catch {
    // Private browsing may refuse storage; the e-mail has the link too.
  }
}

function orderLink(entry) {
  return `#/orders/${entry.id}?token=${encodeURIComponent(entry.token)}`;
}

function showRecentOrders() {
  const orders = recentOrders();
  const forget = h("button", { type: "button", class: "secondary" }, "Forget these orders on this device");
  forget.addEventListener("click", () => {
    localStorage.removeItem(RECENT_ORDERS);
    showRecentOrders();
    announce("The orders were forgotten on this device.");
  });
  fill(main, h("h1", {}, "Your orders"),
    h("p", {}, "Orders placed in this browser. Every order's link is also in its receipt e-mail."),
    orders.length === 0
      ? h("p", {}, "No orders on this device yet.")
      : h("ul", {}, orders.map((entry) => h("li", {},
        h("a", { href: orderLink(entry) }, entry.title ?? "Order"), " — ",
        h("time", { datetime: entry.date_time }, when(entry.date_time))))),
    orders.length ? forget : null);
  settle("Your orders", SITE);
}

async function showOrder(id, token, signal) {
  token ||= recentOrders().find((o) => o.id === id)?.token;
  const status = h("p", { role: "status" });
  const details = h("dl", { class: "facts" });
  const next = h("div");
  const receipt = h("section", { "aria-labelledby": "receipt-heading", hidden: true });
  fill(main, h("h1", {}, "Your order"), status, details, next, receipt);
  settle("Your order", SITE);
  if (!token) {
    fill(status, "This link is missing its token. Open the link from your receipt e-mail.");
    return;
  }
  const headers = { "X-Order-Token": token };
  let event = null;
  let shown = null;
  while (!signal.aborted) {
    let order;
    try {
      order = await api(`/orders/${encodeURIComponent(id)}`, { headers, signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.status === 404) {
        fill(status, "We could not find this order. Check the link from your receipt e-mail.");
        return;
      }
      status.textContent = error.message;
      await sleep(ORDER_POLL_SECONDS, signal);
      continue;
    }
    if (order.status !== shown) {
      event ??= await api(`/events/${order.event_id}`, { signal }).catch(() => null);
      drawOrder(order, event, { status, details, next });
      if (shown !== null) announce(`Your order is now: ${STATUS_TEXT[order.status] ?? order.status}.`);
      shown = order.status;
      if (order.status === "paid" || order.status === "refunded") await drawReceipt(order, headers, receipt, signal);
    }
    if (order.status !== "pending") return;
    await sleep(ORDER_POLL_SECONDS, signal);
  }
}

function drawOrder(order, event, { status, details, next }) {
  const ticket = event?.tickets?.find((t) => t.id === order.ticket_id);
  fill(status, "Status: ", h("strong", { class: `status status-${order.status}` }, STATUS_TEXT[order.status] ?? order.status));
  fill(details,
    h("dt", {}, "Event"), h("dd", {}, event ? h("a", { href: `#/events/${event.id}` }, event.title) : order.event_id),
    event ? [h("dt", {}, "When"), h("dd", {}, h("time", { datetime: event.date_time }, when(event.date_time)))] : null,
    h("dt", {}, "Ticket"), h("dd", {}, ticket ? ticket.category : order.ticket_id),
    h("dt", {}, "Quantity"), h("dd", {}, String(order.quantity)),
    h("dt", {}, "Total"), h("dd", {}, money(order.total_amount, order.currency)),
    h("dt", {}, "E-mail"), h("dd", {}, order.email),
    h("dt", {}, "Phone"), h("dd", {}, order.phone_number),
    h("dt", {}, "Order number"), h("dd", {}, order.id));
  const again = event ? h("a", { href: `#/events/${event.id}` }, "Choose tickets again") : null;
  const messages = {
    pending: () => [
      h("p", {}, "Your tickets are held for you",
        order.payment?.expires_at ? [" until ", h("time", { datetime: order.payment.expires_at }, when(order.payment.expires_at))] : null,
        ". This page updates by itself once the payment arrives."),
      order.payment?.checkout_url ? h("p", {}, h("a", { class: "button", href: order.payment.checkout_url }, "Pay now")) : null,
    ],
    failed: () => [h("p", {}, "The payment was declined, so nothing was charged and the tickets were released. "), again],
    expired: () => [h("p", {}, "The payment did not arrive in time, so the tickets were released. "), again],
    paid: () => h("p", {}, "Thank you! Your receipt has been sent to ", order.email, "."),
    refunded: () => h("p", {}, "This order was refunded."),
  };
  fill(next, messages[order.status]?.() ?? null);
}

async function drawReceipt(order, headers, section, signal) {
  let receipt;
  try {
    receipt = await api(`/orders/${encodeURIComponent(order.id)}/receipt`, { headers, signal });
  } catch (error) {
    if (error.name !== "AbortError") fill(section, failure(error));
    section.hidden = false;
    return;
  }
  const download = h("button", { type: "button" }, "Download receipt (PDF)");
  const problem = h("p", { role: "alert" });
  download.addEventListener("click", async () => {
    download.disabled = true;
    problem.textContent = "";
    try {
      const response = await fetch(`/orders/${encodeURIComponent(order.id)}/receipt`,
        { headers: { ...headers, Accept: "application/pdf" } });
      if (!response.ok || response.headers.get("content-type") !== "application/pdf") throw new Error("no pdf");
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: `receipt-${order.id}.pdf`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      announce("The receipt was downloaded.");
    } catch {
      problem.textContent = "The receipt could not be downloaded. Please try again.";
    } finally {
      download.disabled = false;
    }
  });
  fill(section, h("h2", { id: "receipt-heading" }, "Receipt"),
    h("dl", { class: "facts" },
      h("dt", {}, "Event"), h("dd", {}, receipt.event.title),
      h("dt", {}, "Where"), h("dd", {}, receipt.event.location),
      h("dt", {}, "When"), h("dd", {}, h("time", { datetime: receipt.event.date_time }, when(receipt.event.date_time))),
      h("dt", {}, "Ticket"), h("dd", {}, receipt.ticket.category),
      h("dt", {}, "Quantity"), h("dd", {}, String(receipt.quantity)),
      h("dt", {}, "Amount paid"), h("dd", { class: "amount-paid" }, money(receipt.total_amount, receipt.currency)),
      h("dt", {}, "Payment reference"), h("dd", {}, receipt.payment_ref),
      h("dt", {}, "Paid at"), h("dd", {}, h("time", { datetime: receipt.paid_at }, when(receipt.paid_at))),
      h("dt", {}, "Sent to"), h("dd", {}, receipt.email)),
    h("div", { class: "actions" }, download), problem);
  section.hidden = false;
}

skipLink();
follow(render);
