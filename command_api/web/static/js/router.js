// Hash routing: "#/events/abc?q=x" names a view; the server only ever serves one page.

/** The current route: {path: "/events/abc", params: URLSearchParams}. */
export function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  return { path: path || "/", params: new URLSearchParams(search) };
}

/** Call render now and on every change of the hash; render gets a signal aborted on leaving. */
export function follow(render) {
  let controller = null;
  const show = () => {
    controller?.abort();
    controller = new AbortController();
    render(route(), controller.signal);
  };
  addEventListener("hashchange", show);
  show();
}

/** Match a path against patterns like "/events/:id"; the params, or null. */
export function match(pattern, path) {
  const names = [];
  const source = pattern.replace(/:[a-z]+/g, (name) => {
    names.push(name.slice(1));
    return "([^/]+)";
  });
  const found = new RegExp(`^${source}$`).exec(path);
  if (!found) return null;
  return Object.fromEntries(names.map((name, index) => [name, decodeURIComponent(found[index + 1])]));
}
