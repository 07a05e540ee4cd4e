// What the live view draws, each on its own canvas: horizontal dB bars with marks (level and
// loudness meters), spectrum bars, the event timeline and a waveform that grows as the stream
// plays. Each keeps bounded state, so a page left open for hours stays the same size.

import { clock, fit } from "./dom.js";

export const COLORS = { peak: "#f3a712", rms: "#b57a06", ok: "#46a758", danger: "#e5484d", text: "#e6e9ee",
  muted: "#9aa4b2", line: "#2c333d", hold: "#e6e9ee" };
/** Meter scales: dBFS (peak, RMS), LUFS (loudness) and the spectrum's dBFS. */
export const LEVEL_RANGE = [-60, 0];
export const LOUDNESS_RANGE = [-59, -5];
const SPECTRUM_RANGE = [-100, 0];
/** Seconds of stream time the event timeline shows. */
export const TIMELINE_SPAN_S = 30;
/** Points the growing waveform keeps: when full, pairs are merged (flat memory for hours). */
const WAVE_POINTS = 2048;
/** What `level` or `spectrum` meters show below their floor. */
export const FLOOR = -200;

/** x of `value` on a `[lo, hi]` scale `width` wide, clamped. */
function scaleX([lo, hi], value, width) {
  return (Math.min(hi, Math.max(lo, value)) - lo) / (hi - lo) * width;
}

/** A readout: `value unit`, or a dash below the floor. */
export function format(value, unit) {
  return value > FLOOR + 1 ? `${value.toFixed(1)} ${unit}` : "–";
}

/** Horizontal bars on a dB scale with ticks; `bars` are { label, value, hold, color, under }. */
export function drawBars(canvas, range, bars, marks = []) {
  const { width, height, ratio } = fit(canvas);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const labelW = 28 * ratio;
  const barH = (height - 14 * ratio) / bars.length;
  const w = width - labelW;
  ctx.font = `${10 * ratio}px system-ui, sans-serif`;
  bars.forEach((b, i) => {
    const y = i * barH + 2 * ratio;
    ctx.fillStyle = COLORS.muted;
    ctx.fillText(b.label, 2 * ratio, y + barH * 0.65);
    ctx.fillStyle = COLORS.line;
    ctx.fillRect(labelW, y, w, barH - 4 * ratio);
    if (b.under !== undefined) {
      ctx.fillStyle = COLORS.rms;
      ctx.fillRect(labelW, y, scaleX(range, b.under, w), barH - 4 * ratio);
    }
    ctx.fillStyle = b.color;
    const x = scaleX(range, b.value, w);
    ctx.fillRect(labelW, y + (b.under !== undefined ? (barH - 4 * ratio) * 0.3 : 0), x,
      (barH - 4 * ratio) * (b.under !== undefined ? 0.4 : 1));
    if (b.hold !== undefined && b.hold > range[0]) {
      ctx.fillStyle = COLORS.hold;
      ctx.fillRect(labelW + scaleX(range, b.hold, w) - ratio, y, 2 * ratio, barH - 4 * ratio);
    }
  });
  // Ticks every 6 dB (LUFS: every 6 LU from the top), and marks (target, integrated).
  ctx.fillStyle = COLORS.muted;
  for (let v = range[1]; v >= range[0]; v -= 6) {
    const x = labelW + scaleX(range, v, w);
    ctx.fillRect(x, height - 14 * ratio, ratio, 3 * ratio);
    ctx.fillText(String(v), Math.min(x - 6 * ratio, width - 18 * ratio), height - 2 * ratio);
  }
  for (const m of marks) {
    const x = labelW + scaleX(range, m.value, w);
    ctx.strokeStyle = m.color;
    ctx.lineWidth = 2 * ratio;
    ctx.setLineDash(m.dashed ? [4 * ratio, 3 * ratio] : []);
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, height - 14 * ratio);
    ctx.stroke();
  }
  ctx.setLineDash([]);
}

/** A waveform of peak levels that grows as events come, in flat memory. */
export function growingWave() {
  const peaks = new Float32Array(WAVE_POINTS);
  let n = 0;
  let perPoint = 1; // level events per point
  let pending = 0; // events in the point being filled
  let start = null;
  let end = 0;
  return {
    add(streamTime, amplitude) {
      start ??= streamTime;
      end = streamTime;
      if (pending === 0) {
        if (n === WAVE_POINTS) {
          for (let i = 0; i < WAVE_POINTS / 2; i++) peaks[i] = Math.max(peaks[2 * i], peaks[2 * i + 1]);
          peaks.fill(0, WAVE_POINTS / 2);
          n = WAVE_POINTS / 2;
          perPoint *= 2;
        }
        n++;
      }
      peaks[n - 1] = Math.max(pending ? peaks[n - 1] : 0, amplitude);
      pending = (pending + 1) % perPoint;
    },
    draw(canvas) {
      const { width, height, ratio } = fit(canvas);
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, width, height);
      if (!n) return;
      const mid = (height - 14 * ratio) / 2;
      ctx.fillStyle = COLORS.peak;
      // Until the buffer first fills the wave grows from the left; then it spans the width.
      const columns = Math.max(n, Math.min(WAVE_POINTS, width));
      for (let i = 0; i < n; i++) {
        const x = (i * width) / columns;
        const a = mid * peaks[i];
        ctx.fillRect(x, mid - a, Math.max(1, width / columns), Math.max(1, 2 * a));
      }
      ctx.fillStyle = COLORS.muted;
      ctx.font = `${10 * ratio}px system-ui, sans-serif`;
      const first = clock(start);
      ctx.fillText(first, 2 * ratio, height - 2 * ratio);
      const last = clock(end);
      const lastX = Math.min((n * width) / columns, width) - ctx.measureText(last).width - 2 * ratio;
      if (lastX > ctx.measureText(first).width + 12 * ratio) ctx.fillText(last, lastX, height - 2 * ratio);
    },
  };
}

/** The event timeline: the last TIMELINE_SPAN_S seconds of stream time. */
export function timeline() {
  const marks = []; // { t, end?, kind, text?, strength? }
  let now = 0;
  const openSilence = () => marks.find((m) => m.kind === "silence" && m.end === undefined);
  return {
    /** Takes `e` if the timeline shows its kind: whether it did. */
    add(e) {
      now = Math.max(now, e.stream_time);
      switch (e.event) {
        case "onset": marks.push({ t: e.stream_time, kind: "onset", strength: e.strength ?? 1 }); break;
        case "clipping": marks.push({ t: e.stream_time, kind: "clipping" }); break;
        case "silence_start": marks.push({ t: e.start ?? e.stream_time, kind: "silence" }); break;
        case "silence_end": {
          const open = openSilence();
          if (open) open.end = e.stream_time;
          else marks.push({ t: e.start, end: e.stream_time, kind: "silence" });
          break;
        }
        case "source_connected": marks.push({ t: e.stream_time, kind: "connected", text: "source connected" }); break;
        case "source_disconnected": marks.push({ t: e.stream_time, kind: "disconnected", text: "source lost" }); break;
        case "metadata": marks.push({ t: e.stream_time, kind: "metadata", text: e.title }); break;
        default: return false;
      }
      while (marks.length && (marks[0].end ?? marks[0].t) < now - TIMELINE_SPAN_S && marks[0] !== openSilence()) marks.shift();
      if (marks.length > 2000) marks.splice(0, marks.length - 2000);
      return true;
    },
    advance(t) {
      now = Math.max(now, t);
    },
    get count() {
      return marks.length;
    },
    draw(canvas) {
      const { width, height, ratio } = fit(canvas);
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, width, height);
      const from = now - TIMELINE_SPAN_S;
      const x = (t) => ((t - from) / TIMELINE_SPAN_S) * width;
      const band = height - 14 * ratio;
      ctx.font = `${10 * ratio}px system-ui, sans-serif`;
      for (const m of marks) {
        if ((m.end ?? now) < from) continue;
        if (m.kind === "silence") {
          ctx.fillStyle = "rgba(154, 164, 178, 0.25)";
          ctx.fillRect(x(Math.max(m.t, from)), 0, x(m.end ?? now) - x(Math.max(m.t, from)), band);
          ctx.fillStyle = COLORS.muted;
          ctx.fillText("silence", x(Math.max(m.t, from)) + 2 * ratio, 12 * ratio);
        } else if (m.kind === "onset") {
          ctx.fillStyle = COLORS.peak;
          const hgt = band * Math.min(1, 0.3 + 0.7 * Math.min(1, m.strength));
          ctx.fillRect(x(m.t), band - hgt, ratio, hgt);
        } else {
          ctx.fillStyle = m.kind === "connected" ? COLORS.ok : m.kind === "metadata" ? COLORS.text : COLORS.danger;
          ctx.fillRect(x(m.t), 0, 2 * ratio, band);
          if (m.text) ctx.fillText(m.text, x(m.t) + 4 * ratio, band / 2);
        }
      }
      ctx.fillStyle = COLORS.muted;
      for (let s = Math.max(0, Math.ceil(from / 5) * 5); s <= now; s += 5) {
        ctx.fillRect(x(s), band, ratio, 3 * ratio);
        ctx.fillText(clock(s), x(s) + 2 * ratio, height - 2 * ratio);
      }
    },
  };
}

/** Spectrum bars: one per band, on a log frequency axis, with a falling peak hold. */
export function drawSpectrum(canvas, state) {
  const { width, height, ratio } = fit(canvas);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const n = state.bands.length;
  if (!n) return;
  const band = height - 14 * ratio;
  const barW = width / n;
  const y = (db) => band - scaleX(SPECTRUM_RANGE, db, band);
  for (let i = 0; i < n; i++) {
    ctx.fillStyle = COLORS.peak;
    ctx.fillRect(i * barW + ratio, y(state.magnitudes[i]), barW - 2 * ratio, band - y(state.magnitudes[i]));
    ctx.fillStyle = COLORS.hold;
    ctx.fillRect(i * barW + ratio, y(state.bandHold[i]), barW - 2 * ratio, ratio);
  }
  ctx.fillStyle = COLORS.muted;
  ctx.font = `${10 * ratio}px system-ui, sans-serif`;
  for (let i = 0; i < n; i += 4) {
    const hz = state.bands[i];
    ctx.fillText(hz >= 1000 ? `${(hz / 1000).toFixed(1)}k` : Math.round(hz), i * barW + ratio, height - 2 * ratio);
  }
}

