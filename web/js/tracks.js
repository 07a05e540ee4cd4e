// Analysis tracks: one result of the item drawn over the zoomed window, in its time mode
// (framewise values as a curve, or a heat map when a frame holds several; events as
// markers, or as a density strip when they would overlap; segments as coloured spans with
// their labels), with a readout of the value under the pointer and its unit on the axis. A
// result is TimeSide's AnalyzerResult, as `/results/{uuid}/data` gives it.
//
// Heat maps read as their values mean: amplitudes and powers in dB (a floor and ceiling the
// listener sets, 80 dB under the loudest by default), MFCC coefficients each scaled to its own
// range (their magnitudes differ by orders), anything else between its extremes; a legend
// says what the colours are.

import { fit, h } from "./dom.js";

const PALETTE = ["#f3a712", "#4cc9f0", "#f72585", "#7bd389", "#b388ff", "#ff8c42", "#e6e9ee", "#3a86ff"];

/** Magma (matplotlib, CC0), the server's spectrogram colours: stops every 32 of its 256 entries. */
const MAGMA = [[0, 0, 4], [29, 17, 71], [81, 18, 124], [131, 38, 129], [183, 55, 121], [231, 82, 99], [252, 137, 97],
  [254, 196, 136], [252, 253, 191]];

/** The colour of `x` in 0..1 (clamped), as [r, g, b]. */
export function magma(x) {
  const t = Math.min(1, Math.max(0, Number.isFinite(x) ? x : 0)) * (MAGMA.length - 1);
  const i = Math.min(MAGMA.length - 2, Math.floor(t));
  const f = t - i;
  return MAGMA[i].map((c, k) => Math.round(c + (MAGMA[i + 1][k] - c) * f));
}

/** A vertical legend of the colour map on `canvas` (top: 1, bottom: 0). */
export function drawLegend(canvas) {
  const { width, height } = fit(canvas);
  const ctx = canvas.getContext("2d");
  for (let y = 0; y < height; y++) {
    const [r, g, b] = magma(1 - y / Math.max(1, height - 1));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(0, y, width, 1);
  }
}

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

/**
 * Whether a frame's value is there to draw: not a number missing, for pitch not an unvoiced
 * frame (YIN writes those as 0 or below), for loudness not silence (written far under the
 * -70 LUFS gate): those are gaps, not drops to 0 Hz or -200 LUFS.
 */
function present(result, v) {
  if (!Number.isFinite(v)) return false;
  if (result.id_metadata.id === "pitch") return v > 0;
  if (result.id_metadata.unit === "LUFS") return v > -120;
  return true;
}

/** Draws framewise numbers as a curve (one min/max bar per pixel) between the result's extremes. */
function drawCurve(ctx, width, height, result, view) {
  const f = result.frame_metadata;
  const step = f.stepsize / f.samplerate;
  const values = result.data_object.value;
  const shown = (v) => present(result, v);
  const offset = result.audio_metadata ? result.audio_metadata.start || 0 : 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    const x = scalar(v);
    if (shown(x)) {
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
      if (!shown(v)) continue;
      mn = Math.min(mn, v);
      mx = Math.max(mx, v);
    }
    if (mx >= mn) ctx.fillRect(px, y(mx), 1, Math.max(1.5, y(mn) - y(mx)));
  }
  return { lo, hi };
}

/**
 * How a heat map's values become colours: `{ scale, rows, dims, floor, ceiling }`, `rows` the
 * values to colour per frame (dB, or per-row 0..1 for MFCC, or as they are). Computed once
 * per result.
 */
function heatGrid(result) {
  const values = result.data_object.value;
  const dims = values[0].length;
  const unit = result.id_metadata.unit;
  const id = result.id_metadata.id;
  const grid = new Float32Array(values.length * dims);
  let scale = "linear";
  if (unit === "amplitude" || unit === "power") {
    scale = "db";
    const factor = unit === "amplitude" ? 20 : 10;
    values.forEach((v, k) => v.forEach((x, d) => (grid[k * dims + d] = factor * Math.log10(Math.max(Math.abs(x), 1e-12)))));
  } else if (id === "mfcc" || id.startsWith("mfcc.")) {
    // Each coefficient scaled to its own range: c0 (energy) dwarfs the others.
    scale = "row";
    for (let d = 0; d < dims; d++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of values) if (Number.isFinite(v[d])) (lo = Math.min(lo, v[d])), (hi = Math.max(hi, v[d]));
      const span = hi > lo ? hi - lo : 1;
      values.forEach((v, k) => (grid[k * dims + d] = (v[d] - lo) / span));
    }
  } else {
    values.forEach((v, k) => v.forEach((x, d) => (grid[k * dims + d] = x)));
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of grid) if (Number.isFinite(x)) (lo = Math.min(lo, x)), (hi = Math.max(hi, x));
  if (!(hi > lo)) hi = lo + 1;
  if (scale === "row") return { scale, grid, dims, floor: 0, ceiling: 1 };
  if (scale === "db") {
    const ceiling = Math.ceil(hi);
    return { scale, grid, dims, floor: Math.max(Math.floor(lo), ceiling - 80), ceiling };
  }
  return { scale, grid, dims, floor: lo, ceiling: hi };
}

/** Draws a heat map (each row one dimension, low rows at the bottom) between `floor` and `ceiling`. */
function drawHeat(ctx, width, height, result, view, heat) {
  const f = result.frame_metadata;
  const step = f.stepsize / f.samplerate;
  const frames = heat.grid.length / heat.dims;
  const offset = result.audio_metadata ? result.audio_metadata.start || 0 : 0;
  const image = ctx.createImageData(width, height);
  const span = view.stop - view.start;
  const range = heat.ceiling - heat.floor || 1;
  for (let px = 0; px < width; px++) {
    const k = Math.floor((view.start + ((px + 0.5) / width) * span - offset) / step);
    if (k < 0 || k >= frames) continue;
    for (let py = 0; py < height; py++) {
      const dim = Math.min(heat.dims - 1, Math.floor(((height - 1 - py) / height) * heat.dims));
      const [r, g, b] = magma((heat.grid[k * heat.dims + dim] - heat.floor) / range);
      const at = (py * width + px) * 4;
      image.data[at] = r;
      image.data[at + 1] = g;
      image.data[at + 2] = b;
      image.data[at + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
}

/**
 * Events over the window: exact markers, or, when markers would overlap (closer than three
 * pixels somewhere), a density strip: the events in each column of two pixels, as bars
 * scaled to the busiest column. Returns how many events the window holds and the mode drawn.
 */
function drawEvents(ctx, width, height, times, x, ratio) {
  const xs = [];
  for (const t of times) {
    const px = x(t);
    if (px >= 0 && px <= width) xs.push(px);
  }
  xs.sort((a, b) => a - b);
  const crowded = xs.some((px, i) => i > 0 && px - xs[i - 1] < 3 * ratio);
  if (!crowded) {
    ctx.fillStyle = PALETTE[2];
    for (const px of xs) ctx.fillRect(px - ratio / 2, 0, ratio, height);
    return { shown: xs.length, mode: "markers" };
  }
  const column = 2 * ratio;
  const counts = new Uint32Array(Math.ceil(width / column) + 1);
  for (const px of xs) counts[Math.floor(px / column)]++;
  const busiest = Math.max(...counts);
  ctx.fillStyle = PALETTE[2];
  counts.forEach((n, c) => {
    if (!n) return;
    const h = Math.max(ratio, (n / busiest) * (height - 2 * ratio));
    ctx.fillRect(c * column, height - h, column, h);
  });
  ctx.fillStyle = "#9aa4b2";
  ctx.font = `${10 * ratio}px system-ui, sans-serif`;
  ctx.fillText(`${busiest} per ${(column / ratio).toFixed(0)} px at most`, 3 * ratio, 11 * ratio);
  return { shown: xs.length, mode: "density" };
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
  const d0 = result.data_object;
  const heat = result.time_mode === "framewise" && d0.value && d0.value.length && Array.isArray(d0.value[0]) &&
    d0.value[0].length > 1 ? heatGrid(result) : null;
  // A heat map's legend, and for dB its floor and ceiling, which the listener sets.
  let legend = "";
  if (heat) {
    const swatch = h("canvas", { class: "legend-swatch" });
    const labels = heat.scale === "row"
      ? [h("span", {}, "row max"), h("span", {}, "row min")]
      : [h("span", { class: "num" }, ""), h("span", { class: "num" }, "")];
    const dbUnit = heat.scale === "db" ? " dB" : unit ? ` ${unit}` : "";
    const relabel = () => {
      if (heat.scale === "row") return;
      labels[0].textContent = `${+heat.ceiling.toFixed(2)}${dbUnit}`;
      labels[1].textContent = `${+heat.floor.toFixed(2)}${dbUnit}`;
      legend.dataset.floor = String(heat.floor);
      legend.dataset.ceiling = String(heat.ceiling);
    };
    legend = h("div", { class: "legend", "data-testid": "heat-legend", "data-scale": heat.scale }, swatch,
      h("div", { class: "legend-labels" }, ...labels));
    requestAnimationFrame(() => drawLegend(swatch));
    relabel();
    if (heat.scale === "db") {
      const bound = (name, key) => h("label", { class: "muted" }, `${name} `, h("input", {
        type: "number", step: 1, value: Math.round(heat[key]), class: "num", "data-testid": `heat-${key}`,
        "aria-label": `${name} of the colour scale, dB`,
        onchange: (e) => {
          const v = Number(e.target.value);
          if (!Number.isFinite(v)) return;
          heat[key] = v;
          if (heat.ceiling <= heat.floor) heat[key === "floor" ? "ceiling" : "floor"] = v + (key === "floor" ? 1 : -1);
          relabel();
          draw(view);
        },
      }));
      legend.append(bound("floor", "floor"), bound("ceiling", "ceiling"));
    }
  }
  const element = h("section", { class: "track-box" },
    h("div", { class: "track-head" },
      h("strong", {}, result.id_metadata.name || id),
      unit && !(result.id_metadata.name || "").includes(`(${unit})`) ? h("span", { class: "muted" }, ` (${unit})`) : "",
      h("span", { class: "muted" }, ` · ${result.time_mode}`), value,
      h("button", { class: "close", "aria-label": `Remove the ${id} track`, onclick: remove }, "×")),
    h("div", { class: "track-body" }, canvas, legend));
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
    let mode = result.time_mode;
    if (heat) {
      drawHeat(ctx, width, height, result, view, heat);
      mode = "heat";
    } else if (result.time_mode === "framewise" && d.value && d.value.length) {
      const { lo, hi } = drawCurve(ctx, width, height, result, view);
      // The axis's extremes, with the unit.
      const suffix = unit ? ` ${unit}` : "";
      ctx.fillStyle = "#9aa4b2";
      ctx.font = `${10 * ratio}px system-ui, sans-serif`;
      ctx.fillText(`${+hi.toFixed(2)}${suffix}`, 3 * ratio, 11 * ratio);
      ctx.fillText(`${+lo.toFixed(2)}${suffix}`, 3 * ratio, height - 3 * ratio);
      canvas.dataset.axis = `${+lo.toFixed(2)}..${+hi.toFixed(2)}${suffix}`;
      mode = "curve";
    } else if (result.time_mode === "event") {
      ({ shown, mode } = drawEvents(ctx, width, height, d.time || [], x, ratio));
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
    canvas.dataset.mode = mode;
  }
  return { element, draw };
}

/** Whether a result can be drawn over time (global values are shown as text instead). */
export function drawable(result) {
  return result.time_mode !== "global";
}
