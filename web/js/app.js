// The player's shell: the session bar (log in and out) and the views by URL hash, so every
// view can be bookmarked and reloaded.

import { login, logout, session } from "./api.js";
import { h } from "./dom.js";
import { itemView } from "./item.js";
import { libraryView } from "./library.js";
import { liveChannelView, liveListView } from "./live.js";
import { tasksView } from "./tasks.js";

const routes = [
  [/^#?\/?$/, libraryView],
  // `&t=10,20` (or `?t=`) plays a span, as `#t=10,20` does on the item's own address.
  [/^#\/items\/([0-9a-f-]{36})(?:[?&](.*))?$/, itemView],
  [/^#\/tasks$/, tasksView],
  [/^#\/live$/, liveListView],
  [/^#\/live\/([A-Za-z0-9_-]{1,64})$/, liveChannelView],
];

// The view on screen: aborted when another replaces it.
let shown = null;

/**
 * Shows the view the hash names. Each view draws into an element of its own and gets an
 * AbortSignal that fires when it is left: a view still waiting for the server when the user
 * moves on draws into a detached element, not over the next view, and stops its timers,
 * sockets and key handlers even if it set them up after it was left.
 */
async function show() {
  shown?.abort();
  const left = (shown = new AbortController());
  // Shown until the view draws itself (a view waiting for a slow server).
  const root = h("div", {}, h("p", { class: "muted", role: "status" }, "Loading…"));
  document.getElementById("view").replaceChildren(root);
  // An item's own address (`/items/{uuid}`, what IIIF manifests link) with a media fragment
  // (`#t=10,20`) or none; any `#/` route takes over from there.
  const own = location.pathname.match(/^\/items\/([0-9a-f-]{36})$/);
  const hash = own && !location.hash.startsWith("#/") ? `#/items/${own[1]}&${location.hash.slice(1)}` : location.hash || "#/";
  for (const [pattern, render] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    try {
      await render(root, left.signal, ...match.slice(1));
    } catch (e) {
      if (!left.signal.aborted) {
        root.replaceChildren(h("p", { class: "error", role: "alert" }, e.message), backToLibrary());
      }
    }
    return;
  }
  root.replaceChildren(h("h1", {}, "Not found"), backToLibrary());
}

function backToLibrary() {
  return h("p", {}, h("a", { href: "#/" }, "Back to the library"));
}

function sessionBar() {
  const bar = document.getElementById("session");
  const s = session();
  if (s) {
    bar.replaceChildren(
      h("span", { class: "muted" }, s.username),
      h("button", { "data-testid": "logout", onclick: () => logout() }, "Log out"),
    );
    return;
  }
  const user = h("input", { name: "username", autocomplete: "username", placeholder: "User", "aria-label": "User name", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", placeholder: "Password", "aria-label": "Password", required: true });
  const problem = h("span", { class: "error", role: "alert" });
  bar.replaceChildren(
    h("form", {
      "data-testid": "login",
      class: "toolbar",
      "aria-label": "Log in",
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await login(user.value, password.value);
        } catch (err) {
          problem.textContent = err.message;
        }
      },
    }, user, password, h("button", { type: "submit" }, "Log in"), problem),
  );
}

window.addEventListener("hashchange", show);
window.addEventListener("timeside:session", () => {
  sessionBar();
  show();
});
sessionBar();
show();
