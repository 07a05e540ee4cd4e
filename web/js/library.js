// The library (#/): a whole collection, browsed in keyset pages (the next page loads as the
// end of the list comes into view), sorted and filtered (text, collection, format, ingest
// state, owner); title, file name, duration, format, collection, ingest state and owner per
// item; upload of one or many files with a progress bar each; add by URL; delete one's own.

import { call, session, upload } from "./api.js";
import { clock, h, whenLeft } from "./dom.js";

const PAGE_SIZE = 100;
/** How often rows whose ingest runs are read again, and how many at most each time. */
const INGEST_POLL_MS = 3000;
const INGEST_POLL_ROWS = 20;
const SORTS = [
  ["-date_added", "Newest first"], ["date_added", "Oldest first"], ["title", "Title A–Z"], ["-title", "Title Z–A"],
  ["-duration", "Longest first"], ["duration", "Shortest first"], ["file_name", "File name"],
];
const FORMATS = [["", "Any format"], ["wav", "WAV"], ["flac", "FLAC"], ["mpeg", "MP3"], ["ogg", "Ogg"], ["mp4", "MP4/M4A"],
  ["webm", "WebM"], ["x-aiff", "AIFF"]];
const STATES = [["", "Any state"], ["ready", "Ready"], ["ingesting", "Ingesting"], ["failed", "Failed"]];
const STATE_TEXT = { ingesting: "ingesting…", ready: "ready", failed: "failed" };

const select = (label, testid, options) =>
  h("select", { "aria-label": label, "data-testid": testid }, options.map(([value, text]) => h("option", { value }, text)));

export async function libraryView(root, signal) {
  const me = session() ? await call("GET", "/users/me", undefined, { signal }).catch(() => null) : null;
  const status = h("p", { class: "error", role: "alert" });
  const rows = h("tbody");
  const list = h(
    "table",
    { "data-testid": "item-list", "aria-label": "Items" },
    h("thead", {}, h("tr", {}, h("th", {}, "Title"), h("th", { class: "hide-narrow" }, "File"), h("th", {}, "Duration"),
      h("th", { class: "hide-narrow" }, "Format"), h("th", { class: "hide-narrow" }, "Collection"), h("th", {}, "State"),
      h("th", { class: "hide-narrow" }, "Owner"), h("th", {}, ""))),
    rows,
  );
  const search = h("input", { type: "search", placeholder: "Search titles, files, collections", "aria-label": "Search items" });
  const sort = select("Sort items", "item-sort", SORTS);
  const format = select("Format", "filter-format", FORMATS);
  const state = select("Ingest state", "filter-state", STATES);
  const owner = me && select("Owner", "filter-owner", [["", "Anyone's"], ["me", "Mine"]]);
  const collection = h("input", { type: "search", placeholder: "Collection", "aria-label": "Collection", "data-testid": "filter-collection" });
  const shown = h("span", { class: "muted", "data-testid": "item-count", "aria-live": "polite" });
  const more = h("button", { type: "button", "data-testid": "load-more", hidden: true, onclick: () => loadMore() }, "Load more");
  const uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });

  // The list being shown: its query, the next page's cursor, and whether a page is coming.
  let listing = { query: "", next: null, loading: false };

  function query() {
    const params = new URLSearchParams({ page_size: PAGE_SIZE, sort: sort.value });
    const q = search.value.trim();
    if (q) params.set("q", q);
    if (collection.value.trim()) params.set("collection", collection.value.trim());
    if (format.value) params.set("format", format.value);
    if (state.value) params.set("ingest_state", state.value);
    if (owner && owner.value === "me" && me.uuid) params.set("author", me.uuid);
    return params.toString();
  }

  /** Shows the list from its first page (after any change of query, or of the items). */
  async function refresh() {
    listing = { query: query(), next: "", loading: false };
    rows.replaceChildren();
    await loadMore();
  }

  /** Appends the next page of the list being shown. */
  async function loadMore() {
    if (listing.next === null || listing.loading) return;
    const current = listing;
    current.loading = true;
    try {
      const page = await call("GET", `/items?${current.query}&cursor=${encodeURIComponent(current.next)}`, undefined, { signal });
      if (current !== listing) return;
      rows.append(...page.results.map((item) => row(item)));
      current.next = page.next_cursor ?? null;
      if (!rows.children.length) {
        const filtered = [search, collection, format, state, owner].some((input) => input && input.value.trim());
        rows.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, filtered ? "No item matches." : "No items yet.")));
      }
      const count = rows.querySelectorAll("[data-testid=item-row]").length;
      shown.textContent = `${count} item${count === 1 ? "" : "s"}${current.next !== null ? " shown, more below" : ""}`;
      more.hidden = current.next === null;
      status.textContent = "";
    } catch (e) {
      if (!signal.aborted) status.textContent = e.message;
    } finally {
      current.loading = false;
    }
  }
  function row(item) {
    const own = me && me.uuid && item.author === me.uuid;
    const format = [item.container, item.codec].filter(Boolean).join(" / ");
    const ingest = h("td", { "data-testid": "ingest-state", "data-state": item.ingest_state, class: item.ingest_state === "failed" ? "error" : "" },
      STATE_TEXT[item.ingest_state] || item.ingest_state || "");
    const tr = h(
      "tr",
      { "data-testid": "item-row", "data-uuid": item.uuid },
      h("td", {}, h("a", { href: `#/items/${item.uuid}` }, item.title || "(untitled)"),
        item.truncated && h("span", { class: "error", "data-testid": "item-truncated",
          title: `The file ends before the ${clock(item.announced_duration)} its container announces: what decodes is shown.` }, " (truncated)")),
      h("td", { class: "hide-narrow", "data-testid": "item-file" }, item.file_name),
      h("td", { class: "num" }, clock(item.audio_duration)),
      h("td", { class: "hide-narrow" }, format),
      h("td", { class: "hide-narrow" }, item.collection || ""),
      ingest,
      h("td", { class: "hide-narrow" }, own ? "you" : item.author ? "another user" : ""),
      h("td", {}, own &&
        h("button", {
          class: "danger",
          "aria-label": `Delete ${item.title || "item"}`,
          onclick: async () => {
            if (!confirm(`Delete “${item.title}”?`)) return;
            try {
              await call("DELETE", `/items/${item.uuid}`);
              tr.remove();
            } catch (e) {
              status.textContent = e.message;
            }
          },
        }, "Delete")),
    );
    return tr;
  }

  /** Reads the rows whose ingest runs again (the first few), and shows their new state. */
  async function followIngests() {
    const ingesting = [...rows.querySelectorAll("[data-testid=ingest-state][data-state=ingesting]")];
    for (const cell of ingesting.slice(0, INGEST_POLL_ROWS)) {
      const uuid = cell.closest("tr").dataset.uuid;
      const item = await call("GET", `/items/${uuid}`, undefined, { signal }).catch(() => null);
      if (!item || signal.aborted) continue;
      cell.dataset.state = item.ingest_state;
      cell.textContent = STATE_TEXT[item.ingest_state] || item.ingest_state;
      cell.className = item.ingest_state === "failed" ? "error" : "";
    }
  }
  const polling = setInterval(followIngests, INGEST_POLL_MS);
  // The next page loads as the end of the list comes into view.
  const nearEnd = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMore(), { rootMargin: "400px" });
  nearEnd.observe(more);
  whenLeft(signal, () => {
    clearInterval(polling);
    nearEnd.disconnect();
  });

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
  for (const input of [search, collection]) {
    input.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(refresh, 200);
    });
  }
  for (const choice of [sort, format, state, owner].filter(Boolean)) choice.addEventListener("change", refresh);
  const canWrite = Boolean(me);
  root.replaceChildren(
    h("h1", {}, "Library"),
    h("div", { class: "toolbar" }, search, canWrite && h("label", {}, "Upload ", picker)),
    canWrite ? byUrl : h("p", { class: "muted" }, "Log in to upload or add items. Accounts are made on the server with ", h("code", {}, "timeside user add NAME"), "."),
    uploads,
    h("div", { class: "toolbar", role: "group", "aria-label": "Sort and filter" }, sort, collection, format, state, owner, shown),
    status,
    list,
    more,
  );
  await refresh();
}
