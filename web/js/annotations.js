// Annotation tracks under the zoomed view: create, rename, publish and delete tracks; on one's
// own tracks, drag to add a region, click to add a point, drag an annotation to move it or
// its edge to resize it, select one to label it, Delete to remove it. Every change is saved
// to the server at once (`/annotation_tracks`, `/annotations`).
//
// The same with keys, on a focused track (KEYS below): select with arrows, move and resize
// with Alt/Shift and arrows by a hundredth of the visible span, add a point or a region at
// the playhead, Enter to label.

import { call, session } from "./api.js";
import { fit, h } from "./dom.js";

/** Pixels within which the pointer takes an annotation's edge. */
const EDGE = 6;
/** Pixels a press must move to be a drag, not a click. */
const DRAG = 4;
/** A key move or resize step, as a fraction of the visible span. */
const KEY_STEP = 0.01;
/** Key moves are saved once this long after the last key (ms), not once per key. */
const KEY_SAVE_MS = 400;
/** What each key does on a focused track (its help text). */
const KEYS = [
  ["← →", "select the previous or next annotation"],
  ["Alt+← →", "move the selected annotation"],
  ["Shift+← →", "move its end"],
  ["Shift+Alt+← →", "move its start"],
  ["M", "add a point at the playhead"],
  ["[ then ]", "add a region from the playhead at [ to the playhead at ]"],
  ["Enter", "label the selected annotation"],
  ["Delete", "delete it"],
  ["Escape", "select none"],
];

/**
 * The annotation tracks of `item`, editable by `me` where they are theirs; `playhead()` is the
 * audio's position in seconds (where keys add points and regions).
 */
export function annotationsPanel(item, me, playhead) {
  const tracks = new Map();
  const box = h("div", { class: "tracks" });
  const problem = h("p", { class: "error", role: "alert" });
  let view = { start: 0, stop: 1 };
  const fail = (e) => (problem.textContent = e.message);

  function trackView(track) {
    const mine = me && (me.is_admin || track.author === me.uuid);
    const canvas = h("canvas", { class: "track annotations", "data-testid": "annotation-track", "data-uuid": track.uuid,
      tabindex: 0, role: "application",
      "aria-label": `Annotation track ${track.title}${mine ? ": drag to add a region, click to add a point; keys: " + KEYS.map((k) => `${k[0]} ${k[1]}`).join("; ") : ""}` });
    const title = h("input", { value: track.title, "aria-label": "Track title", disabled: !mine,
      onchange: () => save({ title: title.value }) });
    const isPublic = h("input", { type: "checkbox", checked: track.is_public, disabled: !mine,
      onchange: () => save({ is_public: isPublic.checked }) });
    const label = h("input", { "data-testid": "annotation-label", "aria-label": "Label of the selected annotation",
      placeholder: "label", hidden: true,
      onchange: () => selected && change(selected, { title: label.value }),
      // Enter (which saves) or Escape goes back to the track, for the next key.
      onkeydown: (e) => (e.key === "Enter" || e.key === "Escape") && canvas.focus() });
    const element = h("section", { class: "track-box" },
      h("div", { class: "track-head" }, title, h("label", { class: "muted" }, isPublic, " public"), label,
        mine && h("button", { class: "close", "aria-label": `Delete the track ${track.title}`, onclick: remove }, "×")),
      canvas);
    let selected = null;

    async function save(fields) {
      try {
        Object.assign(track, await call("PATCH", `/annotation_tracks/${track.uuid}`, fields));
      } catch (e) {
        fail(e);
      }
    }

    async function remove() {
      if (!confirm(`Delete the track “${track.title}” and its annotations?`)) return;
      try {
        await call("DELETE", `/annotation_tracks/${track.uuid}`);
        element.remove();
        tracks.delete(track.uuid);
      } catch (e) {
        fail(e);
      }
    }

    function select(annotation) {
      selected = annotation;
      label.hidden = !annotation || !mine;
      label.value = annotation ? annotation.title : "";
      draw();
    }

    async function add(start, stop) {
      try {
        const created = await call("POST", "/annotations", { track: track.uuid, start_time: start, stop_time: stop });
        track.annotations.push(created);
        select(created);
        label.focus();
      } catch (e) {
        fail(e);
      }
    }

    async function change(annotation, fields) {
      try {
        Object.assign(annotation, await call("PATCH", `/annotations/${annotation.uuid}`, fields));
      } catch (e) {
        fail(e);
        // Back to what the server holds.
        Object.assign(annotation, await call("GET", `/annotations/${annotation.uuid}`).catch(() => ({})));
      }
      draw();
    }

    async function erase(annotation) {
      if (keySave?.a === annotation) {
        clearTimeout(keySave.timer);
        keySave = null;
      }
      try {
        await call("DELETE", `/annotations/${annotation.uuid}`);
        track.annotations = track.annotations.filter((a) => a.uuid !== annotation.uuid);
        select(null);
      } catch (e) {
        fail(e);
      }
    }

    const span = () => view.stop - view.start;
    const timeAt = (x) => view.start + (x / canvas.clientWidth) * span();
    const xAt = (t) => ((t - view.start) / span()) * canvas.clientWidth;

    /** The annotation under `x` (CSS pixels) and which part: "start", "stop" or "body". */
    function hit(x) {
      for (const a of [...track.annotations].reverse()) {
        const a0 = xAt(a.start_time);
        const a1 = xAt(a.stop_time);
        if (Math.abs(x - a0) <= EDGE && a.stop_time > a.start_time) return { a, part: "start" };
        if (Math.abs(x - a1) <= EDGE) return { a, part: a.stop_time > a.start_time ? "stop" : "body" };
        if (x > a0 && x < a1) return { a, part: "body" };
      }
      return null;
    }

    let press = null;
    canvas.addEventListener("pointerdown", (e) => {
      canvas.focus();
      const under = hit(e.offsetX);
      press = { x: e.offsetX, t: timeAt(e.offsetX), under, moved: false,
        original: under && { start_time: under.a.start_time, stop_time: under.a.stop_time } };
      if (under) select(under.a);
      if (mine) canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!press || !mine) return;
      if (Math.abs(e.offsetX - press.x) > DRAG) press.moved = true;
      if (!press.moved) return;
      const t = Math.max(0, timeAt(e.offsetX));
      if (press.under) {
        const a = press.under.a;
        const d = t - press.t;
        if (press.under.part === "body") {
          const length = press.original.stop_time - press.original.start_time;
          a.start_time = Math.max(0, press.original.start_time + d);
          a.stop_time = a.start_time + length;
        } else if (press.under.part === "start") a.start_time = Math.min(t, a.stop_time);
        else a.stop_time = Math.max(t, a.start_time);
      } else {
        press.region = [Math.min(press.t, t), Math.max(press.t, t)];
      }
      draw();
    });
    canvas.addEventListener("pointerup", () => {
      const p = press;
      press = null;
      if (!p || !mine) return;
      if (p.under && p.moved) change(p.under.a, { start_time: p.under.a.start_time, stop_time: p.under.a.stop_time });
      else if (!p.under && p.moved && p.region) add(p.region[0], p.region[1]);
      else if (!p.under) add(p.t, p.t);
    });
    // Keys: see KEYS. Handled keys stop here (the item view scrolls on bare arrows).
    let regionStart = null;
    // The annotation moved by keys and not saved yet, and its timer.
    let keySave = null;
    const saveSpan = (a) => change(a, { start_time: a.start_time, stop_time: a.stop_time });
    function nudge(a, fields) {
      Object.assign(a, fields);
      draw();
      if (keySave) {
        clearTimeout(keySave.timer);
        if (keySave.a !== a) saveSpan(keySave.a);
      }
      keySave = { a, timer: setTimeout(() => {
        keySave = null;
        saveSpan(a);
      }, KEY_SAVE_MS) };
    }
    canvas.addEventListener("keydown", (e) => {
      const arrow = e.key === "ArrowLeft" ? -1 : e.key === "ArrowRight" ? 1 : 0;
      const step = arrow * KEY_STEP * span();
      const a = selected;
      let handled = true;
      if (arrow && !e.altKey && !e.shiftKey) {
        const ordered = [...track.annotations].sort((a, b) => a.start_time - b.start_time);
        const at = ordered.indexOf(selected);
        if (ordered.length) select(ordered[Math.min(ordered.length - 1, Math.max(0, at < 0 ? (arrow > 0 ? 0 : ordered.length - 1) : at + arrow))]);
      } else if (arrow && mine && a && e.altKey && e.shiftKey) {
        nudge(a, { start_time: Math.min(a.stop_time, Math.max(0, a.start_time + step)) });
      } else if (arrow && mine && a && e.shiftKey) {
        nudge(a, { stop_time: Math.min(item.audio_duration, Math.max(a.start_time, a.stop_time + step)) });
      } else if (arrow && mine && a && e.altKey) {
        const d = Math.min(item.audio_duration - a.stop_time, Math.max(-a.start_time, step));
        nudge(a, { start_time: a.start_time + d, stop_time: a.stop_time + d });
      } else if ((e.key === "m" || e.key === "M") && mine) {
        add(playhead(), playhead());
      } else if (e.key === "[" && mine) {
        regionStart = playhead();
      } else if (e.key === "]" && mine && regionStart !== null) {
        add(Math.min(regionStart, playhead()), Math.max(regionStart, playhead()));
        regionStart = null;
      } else if (e.key === "Enter" && mine && a) {
        label.focus();
      } else if (e.key === "Escape") {
        select(null);
      } else if ((e.key === "Delete" || e.key === "Backspace") && mine && a) {
        erase(a);
      } else {
        handled = false;
      }
      if (handled) {
        e.preventDefault();
        e.stopPropagation();
      }
    });

    function draw() {
      canvas.dataset.selected = selected ? selected.uuid : "";
      const { width, height, ratio } = fit(canvas);
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, width, height);
      ctx.font = `${11 * ratio}px system-ui, sans-serif`;
      const x = (t) => xAt(t) * ratio;
      for (const a of track.annotations) {
        const a0 = x(a.start_time);
        const a1 = x(a.stop_time);
        if (a1 < 0 || a0 > width) continue;
        const chosen = a === selected;
        if (a.stop_time > a.start_time) {
          ctx.fillStyle = chosen ? "rgba(76, 201, 240, 0.55)" : "rgba(76, 201, 240, 0.3)";
          ctx.fillRect(a0, 0, Math.max(1, a1 - a0), height);
        }
        ctx.fillStyle = chosen ? "#ffffff" : "#4cc9f0";
        ctx.fillRect(a0 - ratio / 2, 0, ratio * (chosen ? 2 : 1), height);
        if (a.stop_time > a.start_time) ctx.fillRect(a1 - ratio / 2, 0, ratio * (chosen ? 2 : 1), height);
        if (a.title) {
          ctx.fillStyle = "#e6e9ee";
          ctx.fillText(a.title, Math.max(a0, 0) + 4 * ratio, 14 * ratio);
        }
      }
      if (press && press.region) {
        ctx.fillStyle = "rgba(243, 167, 18, 0.35)";
        ctx.fillRect(x(press.region[0]), 0, x(press.region[1]) - x(press.region[0]), height);
      }
      canvas.dataset.count = String(track.annotations.length);
    }

    return { element, draw };
  }

  function show(track) {
    // A track made before the list arrived may be in it too: one view per track.
    if (tracks.has(track.uuid)) return;
    const v = trackView(track);
    tracks.set(track.uuid, v);
    box.append(v.element);
    v.draw();
  }

  async function create() {
    try {
      const n = tracks.size + 1;
      show(await call("POST", "/annotation_tracks", { item: item.uuid, title: `Annotations ${n}` }));
    } catch (e) {
      fail(e);
    }
  }

  call("GET", `/annotation_tracks?item=${item.uuid}&page_size=100`)
    .then((page) => page.results.forEach(show))
    .catch(fail);

  const keys = h("details", { class: "keys" }, h("summary", {}, "Annotation keys"),
    h("dl", { class: "globals" }, KEYS.map(([k, what]) => [h("dt", {}, h("kbd", {}, k)), h("dd", {}, what)])));
  const element = h("section", { "aria-label": "Annotations" },
    session() && h("div", { class: "toolbar" },
      h("button", { "data-testid": "new-annotation-track", onclick: create }, "New annotation track"), keys),
    problem, box);
  return {
    element,
    draw(v) {
      view = v;
      for (const t of tracks.values()) t.draw();
    },
  };
}
