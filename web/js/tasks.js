// The tasks view (#/tasks): the user's tasks, running and finished, with their progress,
// run time, errors and links to their items (where their results are drawn) and to their
// results as one zip; a running task can be cancelled. Running tasks are followed live over
// the WebSocket (`task:<uuid>` topics); the list itself is read again when one ends.

import { call, download, followWhileShown, session } from "./api.js";
import { h } from "./dom.js";

const PAGE_SIZE = 50;

function when(date) {
  return date ? new Date(date).toLocaleString() : "";
}

/** How long a task ran (or has been running): `12.3 s`, `4:05`, `1:02:03`. */
function runTime(task) {
  if (!task.date_started) return "";
  const end = task.date_finished ? new Date(task.date_finished) : new Date();
  const s = Math.max(0, (end - new Date(task.date_started)) / 1000);
  if (s < 60) return `${s.toFixed(1)} s`;
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, Math.floor(s) % 60];
  const [hours, minutes, seconds] = hms.map((n) => String(n).padStart(2, "0"));
  return hms[0] ? `${hms[0]}:${minutes}:${seconds}` : `${hms[1]}:${seconds}`;
}

const live = (status) => status === "pending" || status === "running";

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
    const took = h("span", { class: "muted num", "data-testid": "task-run-time" }, runTime(task));
    bars.set(task.uuid, { bar, state, took, task });
    const cancel = live(task.status) && h("button", { "data-testid": "task-cancel", "aria-label": `Cancel task ${task.uuid}`,
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          await call("POST", `/tasks/${task.uuid}/cancel`);
        } catch (err) {
          status.textContent = err.message;
        }
        refresh();
      } }, "Cancel");
    const archive = !live(task.status) && results(task) && h("a", { href: "#", "data-testid": "task-export",
      onclick: (e) => download(e, `/tasks/${task.uuid}/export.zip`, { formats: "json,csv" }) }, "all results (zip)");
    const itemLink = (i, n) => h("a", { href: `#/items/${i.item}` }, i.title || `item ${n + 1}`);
    // Results open in their item's view, where any of them can be drawn as a track.
    const links = task.items.flatMap((i) => i.results.filter((r) => r.status === "done")
      .map((r) => h("a", { href: `#/items/${i.item}` }, r.processor)));
    const outcome = [];
    if (links.length) outcome.push(h("span", {}, links.flatMap((a, n) => [n ? " " : "", a])));
    if (archive) outcome.push(" · ", archive);
    if (failed.length) {
      outcome.push(h("ul", { class: "error", "aria-label": "Items that failed" }, failed.map((i) =>
        h("li", { "data-testid": "task-failed-item" }, itemLink(i, task.items.indexOf(i)), ": ", i.error))));
    } else if (task.error) {
      outcome.push(h("span", { class: "error" }, task.error));
    }
    return h("tr", { "data-testid": "task-row", "data-uuid": task.uuid },
      h("td", {}, experiences.get(task.experience) || task.experience),
      h("td", {}, task.items.map((i, n) => [n ? ", " : "", itemLink(i, n)])),
      h("td", {}, state, " ", bar, " ", took, cancel || ""),
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

  function results(task) {
    return task.items.some((i) => i.results.some((r) => r.status === "done"));
  }

  // The run times of running tasks tick.
  const ticker = setInterval(() => {
    for (const { took, task } of bars.values()) if (live(task.status)) took.textContent = runTime(task);
  }, 1000);
  signal.addEventListener("abort", () => clearInterval(ticker));

  function onEvent(event) {
    const shown = bars.get(event.task);
    if (!shown) return;
    if (event.event === "task_status") {
      shown.state.textContent = event.status;
      if (event.status === "running" && !shown.task.date_started) shown.task.date_started = new Date().toISOString();
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
