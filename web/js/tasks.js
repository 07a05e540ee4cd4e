// The tasks view (#/tasks): the user's tasks, running and finished, with their progress,
// errors and links to their items (where their results are drawn). Running tasks are followed live over the
// WebSocket (`task:<uuid>` topics); the list itself is read again when one ends.

import { call, followWhileShown, session } from "./api.js";
import { h } from "./dom.js";

const PAGE_SIZE = 50;

function when(date) {
  return date ? new Date(date).toLocaleString() : "";
}

export async function tasksView(root, signal) {
  if (!session()) {
    root.replaceChildren(h("h1", {}, "Tasks"), h("p", { class: "muted" }, "Log in to see your tasks."));
    return;
  }
  const experiences = new Map();
  const page = await call("GET", "/experiences?page_size=100", undefined, { signal }).catch(() => ({ results: [] }));
  signal.throwIfAborted();
  for (const e of page.results) experiences.set(e.uuid, e.title);
  const body = h("tbody");
  const status = h("p", { class: "error", role: "alert" });
  const bars = new Map();
  let socket = null;

  function row(task) {
    const ended = task.status === "done" || task.status === "done_with_errors";
    const bar = h("progress", { max: 1, value: ended ? 1 : task.progress, "data-testid": "task-progress",
      "aria-label": `Progress of task ${task.uuid}` });
    const failed = task.items.filter((i) => i.status === "failed");
    // "done, 15 of 138 failed": most of the work stands, and which items did not is below.
    const label = task.status === "done_with_errors" ? `done, ${failed.length} of ${task.items.length} failed` : task.status;
    const state = h("span", { "data-testid": "task-status" }, label);
    bars.set(task.uuid, { bar, state });
    const itemLink = (i, n) => h("a", { href: `#/items/${i.item}` }, i.title || `item ${n + 1}`);
    // Results open in their item's view, where any of them can be drawn as a track.
    const results = task.items.flatMap((i) => i.results.filter((r) => r.status === "done")
      .map((r) => h("a", { href: `#/items/${i.item}` }, r.processor)));
    const outcome = [];
    if (results.length) outcome.push(h("span", {}, results.flatMap((a, n) => [n ? " " : "", a])));
    if (failed.length) {
      outcome.push(h("ul", { class: "error", "aria-label": "Items that failed" }, failed.map((i) =>
        h("li", { "data-testid": "task-failed-item" }, itemLink(i, task.items.indexOf(i)), ": ", i.error))));
    } else if (task.error) {
      outcome.push(h("span", { class: "error" }, task.error));
    }
    return h("tr", { "data-testid": "task-row", "data-uuid": task.uuid },
      h("td", {}, experiences.get(task.experience) || task.experience),
      h("td", {}, task.items.map((i, n) => [n ? ", " : "", itemLink(i, n)])),
      h("td", {}, state, " ", bar),
      h("td", { class: "hide-narrow" }, when(task.date_added)),
      h("td", {}, outcome));
  }

  async function refresh() {
    try {
      const tasks = await call("GET", `/tasks?page_size=${PAGE_SIZE}`, undefined, { signal });
      bars.clear();
      body.replaceChildren(...tasks.results.map(row));
      if (!tasks.results.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No tasks yet.")));
      socket?.close();
      if (signal.aborted) return;
      const running = tasks.results.filter((t) => t.status === "pending" || t.status === "running");
      socket = running.length ? followWhileShown(running.map((t) => `task:${t.uuid}`), onEvent, signal) : null;
    } catch (e) {
      status.textContent = e.message;
    }
  }

  function onEvent(event) {
    const shown = bars.get(event.task);
    if (!shown) return;
    if (event.event === "task_status") {
      shown.state.textContent = event.status;
      const ended = event.status === "done" || event.status === "done_with_errors";
      shown.bar.value = ended ? 1 : event.progress ?? shown.bar.value;
      if (event.status !== "pending" && event.status !== "running") refresh();
    }
  }

  root.replaceChildren(
    h("h1", {}, "Tasks"),
    status,
    h("table", { "aria-label": "Tasks" },
      h("thead", {}, h("tr", {}, h("th", {}, "Experience"), h("th", {}, "Items"), h("th", {}, "Status"),
        h("th", { class: "hide-narrow" }, "Added"), h("th", {}, "Results or errors"))),
      body),
  );
  await refresh();
}
