// The library (#/): items with title, duration, format and owner; search; upload of one or
// many files with a progress bar each; add by URL; delete one's own items.

import { call, session, upload } from "./api.js";
import { clock, h } from "./dom.js";

const PAGE_SIZE = 100;

export async function libraryView(root, signal) {
  const me = session() ? await call("GET", "/users/me", undefined, { signal }).catch(() => null) : null;
  const status = h("p", { class: "error", role: "alert" });
  const rows = h("tbody");
  const list = h(
    "table",
    { "data-testid": "item-list", "aria-label": "Items" },
    h("thead", {}, h("tr", {}, h("th", {}, "Title"), h("th", {}, "Duration"), h("th", { class: "hide-narrow" }, "Format"),
      h("th", { class: "hide-narrow" }, "Owner"), h("th", {}, ""))),
    rows,
  );
  const search = h("input", { type: "search", placeholder: "Search titles", "aria-label": "Search items" });
  const uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });

  async function refresh() {
    const q = search.value.trim();
    const query = `?page_size=${PAGE_SIZE}` + (q ? `&q=${encodeURIComponent(q)}` : "");
    try {
      const page = await call("GET", "/items" + query, undefined, { signal });
      rows.replaceChildren(...page.results.map((item) => row(item)));
      if (!page.results.length) rows.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, q ? "No item matches." : "No items yet.")));
      status.textContent = "";
    } catch (e) {
      status.textContent = e.message;
    }
  }

  function row(item) {
    const own = me && me.uuid && item.author === me.uuid;
    const format = [item.container, item.codec].filter(Boolean).join(" / ");
    return h(
      "tr",
      { "data-testid": "item-row", "data-uuid": item.uuid },
      h("td", {}, h("a", { href: `#/items/${item.uuid}` }, item.title || "(untitled)")),
      h("td", { class: "num" }, clock(item.audio_duration)),
      h("td", { class: "hide-narrow" }, format),
      h("td", { class: "hide-narrow" }, own ? "you" : item.author ? "another user" : ""),
      h("td", {}, own &&
        h("button", {
          class: "danger",
          "aria-label": `Delete ${item.title || "item"}`,
          onclick: async () => {
            if (!confirm(`Delete “${item.title}”?`)) return;
            try {
              await call("DELETE", `/items/${item.uuid}`);
              refresh();
            } catch (e) {
              status.textContent = e.message;
            }
          },
        }, "Delete")),
    );
  }

  function send(files) {
    for (const file of files) {
      const bar = h("progress", { max: 1, value: 0, "aria-label": `Upload of ${file.name}` });
      const state = h("span", { class: "muted" }, "sending");
      uploads.append(h("li", { "data-testid": "upload" }, h("span", {}, file.name), bar, state));
      upload(file, (f) => (bar.value = f))
        .then(() => {
          bar.value = 1;
          state.textContent = "added";
          refresh();
        })
        .catch((e) => {
          state.textContent = e.message;
          state.className = "error";
        });
    }
  }

  const picker = h("input", {
    type: "file", multiple: true, accept: "audio/*,video/*", "data-testid": "upload-input", "aria-label": "Upload files",
    onchange: () => {
      send([...picker.files]);
      picker.value = "";
    },
  });
  const url = h("input", { type: "url", placeholder: "https://… or a path on the server", "aria-label": "Media URL" });
  const byUrl = h("form", {
    class: "toolbar",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await call("POST", "/items", { source_url: url.value.trim() });
        url.value = "";
        refresh();
      } catch (err) {
        status.textContent = err.message;
      }
    },
  }, url, h("button", { type: "submit" }, "Add by URL"));

  let typing;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(refresh, 200);
  });
  const canWrite = Boolean(me);
  root.replaceChildren(
    h("h1", {}, "Library"),
    h("div", { class: "toolbar" }, search, canWrite && h("label", {}, "Upload ", picker)),
    canWrite ? byUrl : h("p", { class: "muted" }, "Log in to upload or add items. Accounts are made on the server with ", h("code", {}, "timeside user add NAME"), "."),
    uploads,
    status,
    list,
  );
  await refresh();
}
