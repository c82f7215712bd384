// Superadmins: invite admins, auditors and superadmins, and see every account.
import { api, query } from "./api.js";
import { announce, field, fill, h, showErrors, table } from "./dom.js";
import { when } from "./format.js";

export async function showUsers(view) {
  const errors = h("div", { role: "alert", tabindex: -1 });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "stack", "aria-labelledby": "invite-heading" },
    field("E-mail", h("input", { type: "email", name: "email", required: true, autocomplete: "off" })),
    field("Role", h("select", { name: "role" },
      h("option", { value: "admin" }, "Admin: manages their own events"),
      h("option", { value: "auditor" }, "Auditor: reads the history and all insights"),
      h("option", { value: "superadmin" }, "Superadmin: manages everything"))),
    errors,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create invite")));
  const body = h("tbody");
  const users = table("Accounts", ["E-mail", "Role", "Since"], []);
  users.querySelector("tbody").replaceWith(body);
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More accounts");
  const problem = h("p", { role: "alert" });

  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    if (!form.reportValidity()) return;
    const data = Object.fromEntries(new FormData(form));
    try {
      const invite = await api("/auth/invites", { method: "POST", token: view.token, body: { email: data.email.trim(), role: data.role } });
      showErrors(form, errors, null);
      const link = `${location.origin}/admin#/register${query({ email: invite.email, code: invite.invite_code })}`;
      fill(result, h("h3", {}, `Invite for ${invite.email} (${invite.role})`),
        h("p", {}, "Send them this code, or the link, before ", h("time", { datetime: invite.expires_at }, when(invite.expires_at)), ":"),
        h("p", {}, "Code: ", h("output", { class: "code", dataset: { invite: "code" } }, invite.invite_code)),
        h("p", {}, "Link: ", h("output", { class: "code" }, link)));
      announce(`An invite for ${invite.email} was created.`);
      form.reset();
    } catch (error) {
      if (error.status === 401) return view.expired();
      showErrors(form, errors, error);
    }
    return undefined;
  });

  fill(view.main, h("h1", {}, "Admins and invites"),
    h("section", { "aria-labelledby": "invite-heading" }, h("h2", { id: "invite-heading" }, "Invite someone"), form, result),
    h("section", { "aria-labelledby": "accounts-heading" }, h("h2", { id: "accounts-heading" }, "Accounts"), problem, users, more));
  view.settle("Admins and invites");

  const load = async (cursor) => {
    try {
      const page = await api(`/admin/users${query({ limit: 50, cursor })}`, { token: view.token, signal: view.signal });
      body.append(...page.items.map((user) => h("tr", {},
        h("th", { scope: "row" }, user.email), h("td", {}, user.role),
        h("td", {}, h("time", { datetime: user.created_at }, when(user.created_at))))));
      more.hidden = !page.next_cursor;
      more.onclick = () => load(page.next_cursor);
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.status === 401) view.expired();
      else problem.textContent = error.message;
    }
  };
  await load(null);
}
