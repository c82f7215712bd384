// The admin dashboard: signing in, the session, the navigation by role, and the views.
import { api } from "./api.js";
import { showAudit } from "./admin-audit.js";
import { showEvent, showEvents, showNewEvent } from "./admin-events.js";
import { showUsers } from "./admin-users.js";
import { announce, field, fill, h, settle, showErrors, skipLink } from "./dom.js";
import { follow, match } from "./router.js";
import { followInsights } from "./stream.js";

const SITE = "Dashboard";
const SESSION = "ticketing.dashboard-session";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const sessionBar = document.getElementById("session");

/** Live insights for every view: "insights" events carry a document, "live" a (re)connection. */
export const live = new EventTarget();
let stream = null;
let session = loadSession();

function loadSession() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(SESSION) ?? "null");
    return stored && stored.expires_at > Date.now() ? stored : null;
  } catch {
    return null;
  }
}

async function signIn(email, password) {
  const token = await api("/auth/login", { method: "POST", body: { email, password } });
  const me = await api("/auth/me", { token: token.access_token });
  session = { token: token.access_token, expires_at: Date.now() + token.expires_in * 1000, me };
  sessionStorage.setItem(SESSION, JSON.stringify(session));
}

function signOut(message) {
  session = null;
  sessionStorage.removeItem(SESSION);
  stream?.abort();
  stream = null;
  location.hash = "#/login";
  if (message) announce(message);
}

const canManageEvents = (role) => role === "admin" || role === "superadmin";
const canAudit = (role) => role === "auditor" || role === "superadmin";

function home() {
  return canManageEvents(session.me.role) ? "#/events" : "#/audit";
}

function drawChrome() {
  const signedIn = Boolean(session);
  nav.hidden = !signedIn;
  sessionBar.hidden = !signedIn;
  if (!signedIn) return;
  const role = session.me.role;
  const current = location.hash.split("?")[0];
  const link = (href, text) => h("li", {},
    h("a", { href, "aria-current": current.startsWith(href) ? "page" : false }, text));
  fill(nav, h("ul", {},
    canManageEvents(role) ? link("#/events", "Events") : null,
    role === "superadmin" ? link("#/users", "Admins and invites") : null,
    canAudit(role) ? link("#/audit", "Audit") : null));
  const state = sessionBar.querySelector("[data-stream]") ??
    h("span", { class: "status", dataset: { stream: "connecting" } }, "Connecting…");
  fill(sessionBar, state,
    h("span", {}, `${session.me.email} (${role})`),
    h("button", { type: "button", class: "secondary", onclick: () => signOut("You are signed out.") }, "Sign out"));
}

function streamState(state) {
  const badge = sessionBar.querySelector("[data-stream]");
  if (state === "refused") {
    signOut("Your session ended. Please sign in again.");
    return;
  }
  if (badge) {
    badge.dataset.stream = state;
    badge.className = `status status-${state}`;
    badge.textContent = state === "live" ? "Live" : "Reconnecting…";
  }
  if (state === "live") live.dispatchEvent(new Event("live"));
}

function startStream() {
  if (stream || !session) return;
  stream = new AbortController();
  followInsights(session.token, {
    signal: stream.signal,
    onState: streamState,
    onInsights: (insights) => live.dispatchEvent(new CustomEvent("insights", { detail: insights })),
  });
}

/** What every view gets: the session's token and role, its main element and its signal. */
function context(params, signal) {
  return {
    token: session.token,
    me: session.me,
    main,
    params,
    signal,
    live,
    settle: (title) => settle(title, SITE),
    expired: () => signOut("Your session ended. Please sign in again."),
  };
}

function render({ path, params }, signal) {
  if (!session || session.expires_at <= Date.now()) {
    if (session) signOut("Your session ended. Please sign in again.");
    drawChrome();
    if (path === "/register") return showRegister(params);
    return showLogin();
  }
  drawChrome();
  startStream();
  const role = session.me.role;
  const view = context(params, signal);
  let found;
  if (path === "/" || path === "/login" || path === "/register") {
    location.replace(home());
    return undefined;
  }
  if (canManageEvents(role)) {
    if (path === "/events") return showEvents(view);
    if (path === "/events/new") return showNewEvent(view);
    if ((found = match("/events/:id", path))) return showEvent(view, found.id);
  }
  if (role === "superadmin" && path === "/users") return showUsers(view);
  if (canAudit(role) && path === "/audit") return showAudit(view);
  fill(main, h("h1", {}, "Not found"), h("p", {}, "There is nothing here for your role. ",
    h("a", { href: home() }, "Back to the dashboard")));
  return settle("Not found", SITE);
}

function showLogin() {
  const errors = h("div", { role: "alert", tabindex: -1 });
  const form = h("form", { class: "stack", "aria-labelledby": "login-heading" },
    field("E-mail", h("input", { type: "email", name: "email", required: true, autocomplete: "username" })),
    field("Password", h("input", { type: "password", name: "password", required: true, autocomplete: "current-password" })),
    errors,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    form.querySelector("button").disabled = true;
    try {
      await signIn(String(data.get("email")).trim(), String(data.get("password")));
      location.hash = home();
    } catch (error) {
      showErrors(form, errors, error.status === 401 ? { message: "That e-mail and password do not match an account." } : error);
      form.querySelector("button").disabled = false;
    }
  });
  fill(main, h("h1", { id: "login-heading" }, "Sign in"), form,
    h("p", {}, "Invited to be an admin? ", h("a", { href: "#/register" }, "Create your account with the invite code")));
  settle("Sign in", SITE);
}

function showRegister(params) {
  const errors = h("div", { role: "alert", tabindex: -1 });
  const form = h("form", { class: "stack", "aria-labelledby": "register-heading" },
    field("E-mail", h("input", { type: "email", name: "email", required: true, autocomplete: "username", value: params.get("email") ?? "" }),
      "The address the invite was sent for"),
    field("Password", h("input", { type: "password", name: "password", required: true, minlength: 12, autocomplete: "new-password" }),
      "At least 12 characters"),
    field("Invite code", h("input", { type: "text", name: "invite_code", required: true, autocomplete: "off", value: params.get("code") ?? "" })),
    errors,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create account")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    data.email = data.email.trim();
    data.invite_code = data.invite_code.trim();
    if (data.password.length < 12) {
      showErrors(form, errors, { message: "Please correct the marked fields.", fieldErrors: [{ field: "password", message: "Use at least 12 characters." }] });
      return;
    }
    form.querySelector("button").disabled = true;
    try {
      await api("/auth/register", { method: "POST", body: data });
      await signIn(data.email, data.password);
      announce("Your account was created.");
      location.hash = home();
    } catch (error) {
      const messages = { 400: "The invite code is wrong, used or expired.", 409: "An account with that e-mail exists already: sign in instead." };
      showErrors(form, errors, { message: messages[error.status] ?? error.message, fieldErrors: error.fieldErrors });
      form.querySelector("button").disabled = false;
    }
  });
  fill(main, h("h1", { id: "register-heading" }, "Create your admin account"), form,
    h("p", {}, "Have an account? ", h("a", { href: "#/login" }, "Sign in")));
  settle("Create your account", SITE);
}

skipLink();
follow(render);
