// Analysis tracks: one result of the item drawn over the zoomed window, in its time mode
// (framewise values as a curve, or a heat map when a frame holds several; events as
// markers; segments as coloured spans with their labels), with a readout of the value under
// the pointer. A result is TimeSide's AnalyzerResult, as `/results/{uuid}/data` gives it.

import { fit, h } from "./dom.js";

const PALETTE = ["#f3a712", "#4cc9f0", "#f72585", "#7bd389", "#b388ff", "#ff8c42", "#e6e9ee", "#3a86ff"];

/** A frame's value as one number (the first of a vector). */
const scalar = (v) => (Array.isArray(v) ? v[0] : v);

function labelName(result, code) {
  const names = result.label_metadata && result.label_metadata.label;
  return (names && names[code]) ?? String(code);
}

/** What the track shows at time `t`, as text. */
function readout(result, t) {
  const d = result.data_object;
  const unit = result.id_metadata.unit ? " " + result.id_metadata.unit : "";
  const offset = result.audio_metadata ? result.audio_metadata.start || 0 : 0;
  if (result.time_mode === "framewise") {
    const f = result.frame_metadata;
    const values = d.value || d.label || [];
    const k = Math.floor((t - offset) / (f.stepsize / f.samplerate));
    if (k < 0 || k >= values.length) return "";
    const v = values[k];
    if (d.label) return labelName(result, v);
    return Array.isArray(v) ? `[${v.slice(0, 4).map((x) => x.toFixed(3)).join(", ")}${v.length > 4 ? ", …" : ""}]${unit}` : v.toFixed(3) + unit;
  }
  const times = d.time || [];
  if (result.time_mode === "segment") {
    const i = times.findIndex((s, j) => t >= s + offset && t < s + offset + d.duration[j]);
    if (i < 0) return "";
    return d.label ? labelName(result, d.label[i]) : `${scalar(d.value[i]).toFixed(3)}${unit}`;
  }
  if (result.time_mode === "event") {
    // The nearest event.
    let best = -1;
    times.forEach((s, j) => (best < 0 || Math.abs(s + offset - t) < Math.abs(times[best] + offset - t)) && (best = j));
    if (best < 0) return "";
    const at = (times[best] + offset).toFixed(3);
    return d.label ? `${labelName(result, d.label[best])} at ${at} s` : `event at ${at} s`;
  }
  return "";
}

/** Draws framewise numbers as a curve (one min/max bar per pixel) between the result's extremes. */
function drawCurve(ctx, width, height, result, view) {
  const f = result.frame_metadata;
  const step = f.stepsize / f.samplerate;
  const values = result.data_object.value;
  const offset = result.audio_metadata ? result.audio_metadata.start || 0 : 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    const x = scalar(v);
    if (Number.isFinite(x)) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
  }
  if (!(hi > lo)) hi = lo + 1;
  const y = (v) => height - 2 - ((v - lo) / (hi - lo)) * (height - 4);
  ctx.fillStyle = PALETTE[1];
  const span = view.stop - view.start;
  for (let px = 0; px < width; px++) {
    const a = Math.max(0, Math.floor((view.start + (px / width) * span - offset) / step));
    const b = Math.min(values.length, Math.ceil((view.start + ((px + 1) / width) * span - offset) / step));
    let mn = Infinity;
    let mx = -Infinity;
    for (let k = a; k < Math.max(b, a + 1) && k < values.length; k++) {
      const v = scalar(values[k]);
      if (!Number.isFinite(v)) continue;
      mn = Math.min(mn, v);
      mx = Math.max(mx, v);
    }
    if (mx >= mn) ctx.fillRect(px, y(mx), 1, Math.max(1.5, y(mn) - y(mx)));
  }
  return { lo, hi };
}

/** Draws framewise vectors as a heat map (each row one dimension, scaled to the result's range). */
function drawHeat(ctx, width, height, result, view) {
  const f = result.frame_metadata;
  const step = f.stepsize / f.samplerate;
  const values = result.data_object.value;
  const dims = values[0].length;
  const offset = result.audio_metadata ? result.audio_metadata.start || 0 : 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) for (const x of v) if (Number.isFinite(x)) (lo = Math.min(lo, x)), (hi = Math.max(hi, x));
  if (!(hi > lo)) hi = lo + 1;
  const image = ctx.createImageData(width, height);
  const span = view.stop - view.start;
  for (let px = 0; px < width; px++) {
    const k = Math.floor((view.start + ((px + 0.5) / width) * span - offset) / step);
    if (k < 0 || k >= values.length) continue;
    for (let py = 0; py < height; py++) {
      const dim = Math.min(dims - 1, Math.floor(((height - 1 - py) / height) * dims));
      const level = Math.round((255 * (values[k][dim] - lo)) / (hi - lo));
      const at = (py * width + px) * 4;
      image.data[at] = level;
      image.data[at + 1] = Math.round(level * 0.65);
      image.data[at + 2] = 255 - level;
      image.data[at + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
}

/**
 * A track for `result`: `{ element, draw(view) }`. `remove` is called by its close button.
 * The canvas says how many markers (events) or spans (segments) the window shows in
 * `data-markers`, for tests and assistive tools alike.
 */
export function analysisTrack(result, remove) {
  const id = result.id_metadata.id;
  const unit = result.id_metadata.unit;
  const canvas = h("canvas", { class: "track", "data-testid": "analysis-track", "data-result-id": id, role: "img",
    "aria-label": `Analysis track ${id}` });
  const value = h("output", { class: "muted num", "aria-live": "off" });
  const element = h("section", { class: "track-box" },
    h("div", { class: "track-head" },
      h("strong", {}, result.id_metadata.name || id), unit ? h("span", { class: "muted" }, ` (${unit})`) : "",
      h("span", { class: "muted" }, ` · ${result.time_mode}`), value,
      h("button", { class: "close", "aria-label": `Remove the ${id} track`, onclick: remove }, "×")),
    canvas);
  let view = { start: 0, stop: 1 };
  canvas.addEventListener("pointermove", (e) => {
    value.textContent = readout(result, view.start + (e.offsetX / canvas.clientWidth) * (view.stop - view.start));
  });
  canvas.addEventListener("pointerleave", () => (value.textContent = ""));

  function draw(v) {
    view = v;
    const { width, height, ratio } = fit(canvas);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const d = result.data_object;
    const offset = result.audio_metadata ? result.audio_metadata.start || 0 : 0;
    const x = (t) => ((t + offset - view.start) / (view.stop - view.start)) * width;
    let shown = 0;
    if (result.time_mode === "framewise" && d.value && d.value.length) {
      if (Array.isArray(d.value[0]) && d.value[0].length > 1) drawHeat(ctx, width, height, result, view);
      else {
        const { lo, hi } = drawCurve(ctx, width, height, result, view);
        ctx.fillStyle = "#9aa4b2";
        ctx.font = `${10 * ratio}px system-ui, sans-serif`;
        ctx.fillText(hi.toFixed(2), 3 * ratio, 11 * ratio);
        ctx.fillText(lo.toFixed(2), 3 * ratio, height - 3 * ratio);
      }
    } else if (result.time_mode === "event") {
      ctx.fillStyle = PALETTE[2];
      for (const t of d.time || []) {
        const px = x(t);
        if (px < 0 || px > width) continue;
        ctx.fillRect(px - ratio, 0, 2 * ratio, height);
        shown++;
      }
    } else if (result.time_mode === "segment") {
      ctx.font = `${11 * ratio}px system-ui, sans-serif`;
      (d.time || []).forEach((t, i) => {
        const a = x(t);
        const b = x(t + d.duration[i]);
        if (b < 0 || a > width) return;
        const code = d.label ? d.label[i] : 0;
        ctx.fillStyle = PALETTE[Math.abs(code) % PALETTE.length] + "99";
        ctx.fillRect(a, 4 * ratio, Math.max(1, b - a), height - 8 * ratio);
        if (d.label && b - a > 30 * ratio) {
          ctx.fillStyle = "#111418";
          ctx.fillText(labelName(result, code), Math.max(a, 0) + 4 * ratio, height / 2 + 4 * ratio);
        }
        shown++;
      });
    }
    canvas.dataset.markers = String(shown);
  }
  return { element, draw };
}

/** Whether a result can be drawn over time (global values are shown as text instead). */
export function drawable(result) {
  return result.time_mode !== "global";
}
