// The item's analyses: run an experience on the item and follow its task over the WebSocket
// (progress bar; new results appear without reloading), pick any result to add it as a track
// under the zoomed view, and read global values as text. The item opens with the tracks its
// layout names (`/items/{uuid}/analysis_tracks`: the user's own, else the owner's, else a
// default); a logged-in user's additions and removals are kept as their layout.

import { call, followWhileShown, session } from "./api.js";
import { h } from "./dom.js";
import { analysisTrack, drawable } from "./tracks.js";

// Analyzers' results are offered as tracks; graphers' data (the peaks pyramid and coarse
// spectrogram the view itself draws from) is not. Read once per page (with their schemas).
let analyzerNames = null;
function analyzers() {
  analyzerNames ??= call("GET", "/processors?kind=analyzer&page_size=1000")
    .then((page) => new Set(page.results.map((p) => p.pid)))
    .catch((e) => {
      analyzerNames = null;
      throw e;
    });
  return analyzerNames;
}

/**
 * The analyses panel of item `uuid`. `tracks` is the element the tracks go in; `redraw()`
 * draws every track for the current view; its WebSocket is followed while the view is
 * shown (`signal`). The item's ingest task (`ingestTask`) is not the user's run: its events
 * are not shown as one. Returns `{ element, draw(view), refresh() }`.
 */
export function analysesPanel(uuid, tracksBox, signal, ingestTask = null) {
  const tracks = new Map();
  let view = { start: 0, stop: 1 };
  const picker = h("select", { "aria-label": "Result to show as a track" });
  const add = h("button", { onclick: () => addTrack(picker.value) }, "Add track");
  const globals = h("dl", { class: "globals" });
  const experiences = h("select", { "aria-label": "Experience to run" });
  const progress = h("progress", { "data-testid": "task-progress", max: 1, value: 0, "aria-label": "Task progress" });
  const state = h("span", { class: "muted" });
  const problem = h("p", { class: "error", role: "alert" });
  let task = null;

  async function refreshResults() {
    const [item, kinds] = await Promise.all([call("GET", `/items/${uuid}`), analyzers()]);
    const rows = (item.results || [])
      .filter((r) => r.status === "done" && r.mime_type === "application/json" && kinds.has(r.processor));
    const chosen = picker.value;
    picker.replaceChildren(...rows.map((r) => h("option", { value: r.uuid }, r.processor)));
    if (!rows.length) picker.append(h("option", { value: "" }, "no analysis results yet"));
    if (rows.some((r) => r.uuid === chosen)) picker.value = chosen;
    add.disabled = rows.length === 0;
  }

  /**
   * Adds the drawable results of result `resultUuid` as tracks (only the one of id `only`, if
   * given); a user's own choice (`save`) is kept as their layout.
   */
  async function addTrack(resultUuid, only = null, save = true) {
    if (!resultUuid) return;
    try {
      const container = await call("GET", `/results/${resultUuid}/data`);
      for (const result of Array.isArray(container) ? container : [container]) {
        const id = result.id_metadata.id;
        if (only !== null && id !== only) continue;
        if (!drawable(result)) {
          const unit = result.id_metadata.unit ? " " + result.id_metadata.unit : "";
          const value = result.data_object.value ?? result.data_object.label;
          globals.append(h("dt", {}, id), h("dd", { class: "num" }, `${[].concat(value).map((v) => (typeof v === "number" ? v.toFixed(3) : v)).join(", ")}${unit}`));
          continue;
        }
        if (tracks.has(id)) continue;
        const track = analysisTrack(result, () => {
          track.element.remove();
          tracks.delete(id);
          saveLayout();
        });
        tracks.set(id, track);
        tracksBox.append(track.element);
        track.draw(view);
      }
      if (save) saveLayout();
    } catch (e) {
      problem.textContent = e.message;
    }
  }

  /** The tracks the item's layout names, in order (once results exist to draw). */
  let laidOut = false;
  async function showLayout() {
    if (laidOut || tracks.size) return;
    const layout = await call("GET", `/items/${uuid}/analysis_tracks`);
    const shown = layout.tracks.filter((t) => t.result);
    if (!shown.length) return;
    laidOut = true;
    tracksBox.dataset.layout = layout.source;
    for (const t of shown) await addTrack(t.result, t.result_id, false);
  }

  /** Keeps the tracks on screen, in order, as the logged-in user's layout of the item. */
  function saveLayout() {
    if (!session()) return;
    laidOut = true;
    const body = { tracks: [...tracks.keys()].map((id) => ({ result_id: id })) };
    call("POST", `/items/${uuid}/analysis_tracks`, body)
      .then(() => (tracksBox.dataset.layout = "own"))
      .catch((e) => (problem.textContent = e.message));
  }

  async function run() {
    problem.textContent = "";
    try {
      const created = await call("POST", "/tasks", { experience: experiences.value, item: uuid });
      task = created.uuid;
      progress.value = 0;
      state.textContent = created.status || "pending";
      // The task's own topic too: subscribing sends its status at once, so a task that ends
      // before the item's subscription is in place is still seen to end.
      subscribe(`task:${task}`);
    } catch (e) {
      problem.textContent = e.message;
    }
  }

  // The item's events: progress of its tasks and results as they are stored.
  const subscribe = (topic) => socket.subscribe(topic);
  const socket = followWhileShown(`item:${uuid}`, (event) => {
    if (ingestTask && event.task === ingestTask) return;
    if (event.task && task && event.task !== task) return;
    if (event.event === "progress") progress.value = event.fraction;
    if (event.event === "task_status") {
      state.textContent = event.status;
      const ended = !["pending", "running"].includes(event.status);
      progress.value = ended && event.status !== "failed" && event.status !== "cancelled" ? 1 : event.progress ?? progress.value;
      if (ended) refreshResults().then(showLayout).catch((e) => (problem.textContent = e.message));
      if (event.error) problem.textContent = [].concat(event.error).join("; ");
    }
    if (event.event === "result") refreshResults();
  }, signal);

  call("GET", "/experiences?page_size=100")
    .then((page) => experiences.replaceChildren(...page.results.map((e) => h("option", { value: e.uuid }, e.title))))
    .catch((e) => (problem.textContent = e.message));
  refreshResults().then(showLayout).catch((e) => (problem.textContent = e.message));

  const element = h("section", { class: "analyses", "aria-label": "Analyses" },
    h("div", { class: "toolbar" },
      h("label", {}, "Result ", picker), add,
      session() && [h("label", {}, "Experience ", experiences),
        h("button", { "data-testid": "run-experience", onclick: run }, "Run"), progress, state]),
    problem,
    globals);
  return {
    element,
    draw(v) {
      view = v;
      for (const t of tracks.values()) t.draw(v);
    },
    refresh: () => refreshResults().then(showLayout).catch((e) => (problem.textContent = e.message)),
  };
}
