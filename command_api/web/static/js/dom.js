// Building the DOM from data without innerHTML: every value becomes text, never markup.

/** An element: h("a", {href: "#/"}, "Home"). Props starting with "on" add listeners. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name in element && typeof value !== "string") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let fieldCount = 0;

/** A labelled form field: the label, the control, an optional hint and a slot for its error. */
export function field(label, control, hint) {
  fieldCount += 1;
  control.id ||= `field-${fieldCount}`;
  const hintId = `${control.id}-hint`;
  const errorId = `${control.id}-error`;
  const described = [hint ? hintId : null, errorId].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  return h("div", { class: "field" },
    h("label", { for: control.id }, label),
    control,
    hint ? h("span", { class: "hint", id: hintId }, hint) : null,
    h("span", { class: "error", id: errorId, dataset: { errorFor: control.name || "" } }),
  );
}

/** Show each problem error next to the field it names; the rest in the summary. */
export function showErrors(form, summary, error) {
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  if (!error) {
    summary.textContent = "";
    return;
  }
  const unplaced = [];
  for (const item of error.fieldErrors ?? []) {
    const name = String(item.field ?? "").split(".").pop();
    const control = name ? form.elements.namedItem(name) : null;
    const slot = control?.id ? document.getElementById(`${control.id}-error`) : null;
    if (control && slot) {
      control.setAttribute("aria-invalid", "true");
      slot.textContent = item.message;
    } else {
      unplaced.push(`${item.field}: ${item.message}`);
    }
  }
  summary.textContent = [error.message, ...unplaced].join(" ");
  summary.focus?.();
}

/** Say something to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

let firstView = true;

/** After a view renders: a title for the tab, and focus on its heading after a navigation
 * (a page load leaves focus at the top, where the skip link is). */
export function settle(title, siteName, { focus = true } = {}) {
  document.title = `${title} · ${siteName}`;
  const heading = document.querySelector("main h1");
  const navigated = !firstView;
  firstView = false;
  if (heading && focus && navigated) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}

/** A table in a scrolling wrapper, so that wide tables never widen the page. */
export function table(caption, headings, rows, props = {}) {
  return h("div", { class: "table-wrap" },
    h("table", props,
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, headings.map((heading) => {
        const [text, cls] = Array.isArray(heading) ? heading : [heading, undefined];
        return h("th", { scope: "col", class: cls }, text);
      }))),
      h("tbody", {}, rows),
    ),
  );
}

/** The skip link moves focus to the content without touching the hash the router reads. */
export function skipLink() {
  document.getElementById("skip")?.addEventListener("click", (event) => {
    event.preventDefault();
    const main = document.getElementById("main");
    main.focus();
    main.scrollIntoView();
  });
}

/** A random key (for Idempotency-Key): 128 bits as hex, on any origin. */
export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
