// The item view (#/items/{uuid}): an overview of the whole item and a zoomed view under it,
// from the whole item down to single samples, with a spectrogram of the zoomed window and
// playback. Every picture is drawn from the server's windowed data for what is on screen
// (`waveform`, `spectrogram.png`): the audio is never decoded in the browser, so a
// three-hour item opens as fast as a three-minute one.

import { analysesPanel } from "./analyses.js";
import { annotationsPanel } from "./annotations.js";
import { call, download, mediaUrl, renew, session } from "./api.js";
import { clock, fit, h, viewKeys, whenLeft } from "./dom.js";
import { drawLegend } from "./tracks.js";

const COLORS = { wave: "#f3a712", window: "rgba(243, 167, 18, 0.18)", head: "#e6e9ee", ruler: "#c8d0da",
  band: "rgba(11, 13, 16, 0.8)" };
/** Zoom steps: each button press or wheel notch halves or doubles the visible span. */
const ZOOM = 2;
/** Fewest pixels a sample takes at the deepest zoom. */
const PIXELS_PER_SAMPLE = 8;

/** Fetches the latest of a series of requests: a newer one aborts the older. */
function latest() {
  let controller = null;
  return (path) => {
    controller?.abort();
    controller = new AbortController();
    return call("GET", path, undefined, { signal: controller.signal });
  };
}

/**
 * Draws min/max pairs (-1..1), one per pixel column, centred, scaled by `amp` (vertical zoom;
 * what goes past the edge is cut). When `data.stems` (a few pixels per sample), each value is
 * one sample, drawn as a stem and a point.
 */
function drawWave(ctx, width, height, data, amp = 1) {
  ctx.fillStyle = COLORS.wave;
  ctx.strokeStyle = COLORS.wave;
  const mid = height / 2;
  const n = data.min.length;
  const y = (v) => Math.min(height, Math.max(0, mid - v * amp * mid));
  if (data.stems) {
    const r = Math.max(1.5, Math.min(4, width / n / 4));
    for (let i = 0; i < n; i++) {
      const x = ((i + 0.5) * width) / n;
      const v = Math.abs(data.max[i]) >= Math.abs(data.min[i]) ? data.max[i] : data.min[i];
      ctx.fillRect(x - 0.5, Math.min(mid, y(v)), 1, Math.abs(y(v) - mid));
      ctx.beginPath();
      ctx.arc(x, y(v), r, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.fillRect(0, mid, width, 1);
    return;
  }
  for (let x = 0; x < n; x++) {
    const top = y(data.max[x]);
    const bottom = y(data.min[x]);
    ctx.fillRect((x * width) / n, top, Math.max(1, width / n), Math.max(1, bottom - top));
  }
}

/** Frequencies marked on the spectrogram's axis, within fmin..fmax. */
function frequencyTicks(scale, fmin, fmax) {
  const marks = scale === "log"
    ? [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    : Array.from({ length: 5 }, (_, i) => Math.round((fmax * i) / 4 / 100) * 100);
  return marks.filter((f) => f >= fmin && f <= fmax);
}

const hz = (f) => (f >= 1000 ? `${+(f / 1000).toFixed(1)} kHz` : `${f} Hz`);

/** Tick spacing for a span of `seconds` over `pixels`: about one label per 100 px. */
function tickStep(seconds, pixels) {
  const raw = (seconds * 100) / Math.max(1, pixels);
  const steps = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60,
    120, 300, 600, 900, 1800, 3600];
  return steps.find((s) => s >= raw) || 7200;
}

function label(t, step) {
  if (step >= 1) return clock(t);
  const digits = Math.min(4, Math.ceil(-Math.log10(step)));
  return `${clock(Math.floor(t))}${(t % 1).toFixed(digits).slice(1)}`;
}

/**
 * The span a media fragment names (`t=10,20`, `t=npt:10`, `t=,20`; parts joined by `&`), or
 * null. Media Fragments URI 1.0, as IIIF and Web Annotations write them.
 */
export function mediaFragment(text) {
  const t = (text || "").split("&").find((part) => part.startsWith("t="));
  if (!t) return null;
  const [from, to] = t.slice(2).replace(/^npt:/, "").split(",");
  const start = from === "" ? 0 : Number(from);
  const end = to === undefined ? null : Number(to);
  if (!Number.isFinite(start) || start < 0 || (end !== null && !(Number.isFinite(end) && end > start))) return null;
  return { start, end };
}

/** How often an item whose ingest runs is read again (ms). */
const INGEST_POLL_MS = 2000;

export async function itemView(root, signal, uuid, fragment) {
  const span = mediaFragment(fragment);
  let item = await call("GET", `/items/${uuid}`, undefined, { signal });
  // What decodes (a truncated file's is known once its ingest has run).
  let duration = item.audio_duration || 0;
  const rate = item.samplerate || 44100;

  const overview = h("canvas", { class: "overview", "data-testid": "overview", tabindex: 0, role: "img",
    "aria-label": "Overview of the whole item: click to go there" });
  const zoomview = h("canvas", { class: "zoomview", "data-testid": "zoomview", tabindex: 0, role: "img",
    "aria-label": "Zoomed waveform: wheel or +/- to zoom, drag or arrows to scroll, click to seek" });
  const spectrogram = h("img", { class: "spectrogram", "data-testid": "spectrogram", alt: "Spectrogram of the zoomed window" });
  // Over the spectrogram: its frequency axis, the playhead; beside it, its dB legend (the
  // server's tiles map 0 dBFS down to -100 dBFS onto magma).
  const spectroAxis = h("div", { class: "spectro-axis", "data-testid": "spectrogram-axis", "aria-hidden": "true" });
  const spectroHead = h("div", { class: "playhead", "data-testid": "spectrogram-playhead" });
  const spectroSwatch = h("canvas", { class: "legend-swatch" });
  const spectroPane = h("div", { class: "spectro-pane" },
    h("div", { class: "spectro" }, spectrogram, spectroAxis, spectroHead),
    h("div", { class: "legend", "data-testid": "spectrogram-legend" }, spectroSwatch,
      h("div", { class: "legend-labels" }, h("span", {}, "0 dBFS"), h("span", {}, "−100 dBFS"))));
  const scale = h("select", { "aria-label": "Spectrogram frequency scale" },
    h("option", { value: "log" }, "log"), h("option", { value: "lin" }, "linear"));
  // No preload: the item's duration comes from the API, and a long file's metadata preload
  // fetches a megabyte before anyone presses Play.
  const audio = h("audio", { preload: "none" });
  // A file the browser plays (MP3, Ogg, FLAC, WAV, ...) is played as uploaded, one it cannot
  // (WMA, AIFF, ...) as a complete MP3 transcode; both with Range, so seeks are the browser's.
  // (A transcode streamed as it is made would start sooner, but a stream of the same item
  // started right after another one stalls on the server for now: see the README's status.)
  const audioUrl = () => mediaUrl(`/items/${uuid}/download/${audio.canPlayType(item.mime_type || "") ? "original" : "mp3"}`);
  /** Where playback is, in seconds of the item. */
  const currentTime = () => audio.currentTime || 0;
  audio.src = await audioUrl();
  const play = h("button", { "data-testid": "play", "aria-label": "Play", onclick: () => toggle() }, "Play");
  const position = h("span", { class: "num", "aria-live": "off" }, `0:00 / ${clock(duration)}`);
  const range = h("span", { class: "muted num" });
  const problem = h("p", { class: "error", role: "alert" });
  const tracksBox = h("div", { class: "tracks", "data-testid": "tracks" });
  const me = session() ? await call("GET", "/users/me", undefined, { signal }).catch(() => null) : null;
  signal.throwIfAborted();
  const analyses = analysesPanel(uuid, tracksBox, signal, item.ingest_task);
  const notes = annotationsPanel(item, me, currentTime);

  // The visible window of the zoomed view, in seconds, and its vertical zoom.
  let view = { start: 0, stop: duration };
  let amp = 1;
  let overviewData = null;
  let zoomData = null;
  const fetchOverview = latest();
  const fetchZoom = latest();

  // Whether the listener asked for sound (the player pauses itself on an error).
  let wanted = false;
  function toggle() {
    wanted = audio.paused;
    if (wanted) audio.play().catch((e) => (problem.textContent = "cannot play: " + e.message));
    else audio.pause();
  }
  audio.addEventListener("ended", () => (wanted = false));
  // The audio's URL carries the access token, which expires (after an hour by default): a seek
  // or a re-read after that is refused. Then the token is renewed and the audio goes on from
  // where it was, once; a second error in a row is the browser's.
  let retried = false;
  audio.addEventListener("canplay", () => (retried = false));
  audio.addEventListener("error", async () => {
    if (!audio.getAttribute("src") || signal.aborted) return;
    const at = currentTime();
    if (!retried && session() && (await renew())) {
      retried = true;
      audio.src = await audioUrl();
      audio.currentTime = at;
      if (wanted) audio.play().catch((e) => (problem.textContent = "cannot play: " + e.message));
      return;
    }
    problem.textContent = "the audio cannot be played in this browser";
  });
  audio.addEventListener("play", () => Object.assign(play, { textContent: "Pause", ariaLabel: "Pause" }));
  audio.addEventListener("pause", () => Object.assign(play, { textContent: "Play", ariaLabel: "Play" }));

  function setView(start, span) {
    const minSpan = Math.min(duration, (zoomview.clientWidth || 800) / (rate * PIXELS_PER_SAMPLE));
    span = Math.min(duration, Math.max(minSpan, span));
    start = Math.min(Math.max(0, start), duration - span);
    view = { start, stop: start + span };
    zoomview.dataset.start = view.start.toFixed(6);
    zoomview.dataset.stop = view.stop.toFixed(6);
    range.textContent = `${label(view.start, tickStep(span, 800))} – ${label(view.stop, tickStep(span, 800))}`;
    loadZoom();
    paint();
    analyses.draw(view);
    notes.draw(view);
  }

  function zoom(factor, at = (view.start + view.stop) / 2) {
    const span = (view.stop - view.start) * factor;
    const fraction = (at - view.start) / (view.stop - view.start);
    setView(at - fraction * span, span);
  }

  let spectrogramTimer = null;
  async function loadZoom() {
    const { width } = fit(zoomview);
    const wanted = { ...view };
    // Four pixels a sample or more: one value a sample, drawn as stems.
    const samples = Math.round((wanted.stop - wanted.start) * rate);
    const stems = samples > 0 && samples * 4 <= width;
    try {
      const data = await fetchZoom(
        `/items/${uuid}/waveform?start=${wanted.start.toFixed(6)}&stop=${wanted.stop.toFixed(6)}&nb_pixels=${stems ? samples : width}`,
      );
      zoomData = { ...data, view: wanted, stems };
      zoomview.dataset.stems = String(stems);
      paint();
    } catch (e) {
      if (e.name !== "AbortError") problem.textContent = e.message;
    }
    // A tile per settled window: zooming and dragging ask for none in between; none once the
    // view is left.
    clearTimeout(spectrogramTimer);
    // The tile of another window is never shown stretched over this one: hidden until the
    // new one has loaded.
    if (spectrogram.dataset.start !== wanted.start.toFixed(6) || spectrogram.dataset.stop !== wanted.stop.toFixed(6)) {
      spectrogram.style.visibility = "hidden";
    }
    spectrogramTimer = setTimeout(async () => {
      const ratio = window.devicePixelRatio || 1;
      const url = await mediaUrl(`/items/${uuid}/spectrogram.png`, {
        start: view.start.toFixed(6), stop: view.stop.toFixed(6), scale: scale.value,
        width: Math.min(4096, Math.round(spectrogram.clientWidth * ratio) || 1024),
        height: Math.min(1024, Math.round(spectrogram.clientHeight * ratio) || 256),
      });
      if (signal.aborted) return;
      spectrogram.onload = () => {
        spectrogram.dataset.start = wanted.start.toFixed(6);
        spectrogram.dataset.stop = wanted.stop.toFixed(6);
        if (view.start === wanted.start && view.stop === wanted.stop) spectrogram.style.visibility = "visible";
      };
      spectrogram.src = url;
      drawFrequencyAxis();
    }, 150);
  }

  function drawFrequencyAxis() {
    const nyquist = rate / 2;
    const fmin = scale.value === "log" ? 20 : 0;
    const at = (f) => (scale.value === "log" ? Math.log(f / fmin) / Math.log(nyquist / fmin) : f / nyquist);
    // Placed through the CSSOM: the page's policy allows no inline style attributes.
    spectroAxis.replaceChildren(...frequencyTicks(scale.value, fmin, nyquist).map((f) => {
      const mark = h("span", {}, hz(f));
      mark.style.bottom = `${(at(f) * 100).toFixed(2)}%`;
      return mark;
    }));
    spectroAxis.dataset.scale = scale.value;
  }

  async function loadOverview() {
    const { width } = fit(overview);
    try {
      overviewData = await fetchOverview(`/items/${uuid}/waveform?start=0&stop=${duration}&nb_pixels=${width}`);
      paint();
    } catch (e) {
      if (e.name !== "AbortError") problem.textContent = e.message;
    }
  }

  function paintRuler(ctx, width, height, start, stop, ratio) {
    const step = tickStep(stop - start, width / ratio);
    // A band under the labels: they stay readable over a loud waveform.
    ctx.fillStyle = COLORS.band;
    ctx.fillRect(0, 0, width, 18 * ratio);
    ctx.fillStyle = COLORS.ruler;
    ctx.font = `${11 * ratio}px system-ui, sans-serif`;
    for (let t = Math.ceil(start / step) * step; t <= stop; t += step) {
      const x = ((t - start) / (stop - start)) * width;
      ctx.fillRect(x, 0, Math.max(1, ratio), 6 * ratio);
      ctx.fillText(label(t, step), x + 3 * ratio, 14 * ratio);
    }
  }

  function paint() {
    const now = currentTime();
    position.textContent = `${clock(now)} / ${clock(duration)}`;
    {
      const { width, height } = fit(overview);
      const ctx = overview.getContext("2d");
      ctx.clearRect(0, 0, width, height);
      if (overviewData) {
        drawWave(ctx, width, height, overviewData);
        // What tests and the browser benchmark wait for: the data is on the canvas.
        overview.dataset.drawn = "true";
      }
      const x0 = (view.start / duration) * width;
      const x1 = (view.stop / duration) * width;
      ctx.fillStyle = COLORS.window;
      ctx.fillRect(x0, 0, Math.max(2, x1 - x0), height);
      ctx.fillStyle = COLORS.head;
      ctx.fillRect((now / duration) * width, 0, 2, height);
    }
    {
      const { width, height, ratio } = fit(zoomview);
      const ctx = zoomview.getContext("2d");
      ctx.clearRect(0, 0, width, height);
      if (zoomData) {
        // Until the new window arrives, the last one is drawn where it lies in the new one.
        const span = view.stop - view.start;
        const x = ((zoomData.view.start - view.start) / span) * width;
        const w = ((zoomData.view.stop - zoomData.view.start) / span) * width;
        ctx.save();
        ctx.translate(x, 0);
        drawWave(ctx, w, height, zoomData, amp);
        ctx.restore();
        // The window whose data is drawn (data-start/stop is the one asked for).
        zoomview.dataset.drawnStart = zoomData.view.start.toFixed(6);
        zoomview.dataset.drawnStop = zoomData.view.stop.toFixed(6);
      }
      paintRuler(ctx, width, height, view.start, view.stop, ratio);
      const inView = now >= view.start && now <= view.stop;
      if (inView) {
        ctx.fillStyle = COLORS.head;
        ctx.fillRect(((now - view.start) / (view.stop - view.start)) * width, 0, 2, height);
      }
      spectroHead.style.display = inView ? "block" : "none";
      spectroHead.style.left = `${(((now - view.start) / (view.stop - view.start)) * 100).toFixed(3)}%`;
      zoomview.dataset.amp = String(amp);
    }
  }

  // While the item's ingest runs, its peaks are not stored yet (long windows cannot be drawn):
  // the item is read again every INGEST_POLL_MS (whoever views it, logged in or not) and drawn
  // when the ingest has ended.
  async function followIngest() {
    while (item.ingest_state === "ingesting" && !signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, INGEST_POLL_MS));
      try {
        item = await call("GET", `/items/${uuid}`, undefined, { signal });
      } catch (e) {
        if (e.name === "AbortError") return;
      }
    }
    if (signal.aborted) return;
    problem.textContent = "";
    // A truncated file's duration is what decodes, known once it has been decoded.
    if (item.audio_duration && item.audio_duration !== duration) {
      duration = item.audio_duration;
      view = { start: 0, stop: duration };
    }
    loadOverview();
    setView(view.start, view.stop - view.start);
    analyses.refresh();
  }

  // A media fragment's span: shown around it, played from its start, paused at its end. A
  // browser that allows no sound before a gesture leaves the player at the start, ready.
  const spanLabel = h("span", { class: "muted", "data-testid": "fragment" });
  let spanEnd = null;
  function playSpan({ start, end }) {
    const stop = Math.min(end ?? duration, duration);
    spanEnd = end === null ? null : stop;
    spanLabel.textContent = end === null ? `from ${clock(start)}` : `span ${clock(start)} – ${clock(stop)}`;
    const length = Math.max(stop - start, 1);
    setView(start - length * 0.1, length * 1.2);
    seek(start).then(() => {
      wanted = true;
      return audio.play();
    }).catch(() => {
      wanted = false;
      spanLabel.textContent += " (press Play)";
    });
  }
  audio.addEventListener("timeupdate", () => {
    if (spanEnd !== null && currentTime() >= spanEnd) {
      spanEnd = null;
      wanted = false;
      audio.pause();
    }
  });

  // The playhead is followed in both views; when it leaves the zoomed window, the window pages.
  audio.addEventListener("timeupdate", () => {
    const t = currentTime();
    const span = view.stop - view.start;
    if (!audio.paused && (t > view.stop || t < view.start)) setView(t - span * 0.05, span);
    else paint();
  });

  /** Moves playback to `t` seconds. */
  async function seek(t) {
    audio.currentTime = Math.min(Math.max(0, t), duration);
    paint();
  }

  // Overview: a click centres the zoomed window there and seeks.
  overview.addEventListener("click", (e) => {
    const t = (e.offsetX / overview.clientWidth) * duration;
    const span = view.stop - view.start;
    setView(t - span / 2, span);
    seek(t);
  });

  // Zoomed view: wheel zooms around the pointer, drag scrolls, a click without a drag seeks.
  const timeAt = (e) => view.start + (e.offsetX / zoomview.clientWidth) * (view.stop - view.start);
  zoomview.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoom(e.deltaY > 0 ? ZOOM : 1 / ZOOM, timeAt(e));
  }, { passive: false });
  let drag = null;
  zoomview.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, start: view.start, moved: false };
    zoomview.setPointerCapture(e.pointerId);
  });
  zoomview.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    if (drag.moved) setView(drag.start - (dx / zoomview.clientWidth) * (view.stop - view.start), view.stop - view.start);
  });
  zoomview.addEventListener("pointerup", (e) => {
    if (drag && !drag.moved) seek(timeAt(e));
    drag = null;
  });

  function setAmp(a) {
    amp = Math.min(64, Math.max(1, a));
    paint();
  }

  const scroll = (quarters) => {
    const span = view.stop - view.start;
    setView(view.start + (quarters * span) / 4, span);
  };
  viewKeys(signal, {
    " ": () => toggle(),
    "+": () => zoom(1 / ZOOM),
    "=": () => zoom(1 / ZOOM),
    "-": () => zoom(ZOOM),
    ArrowLeft: () => scroll(-1),
    ArrowRight: () => scroll(1),
    Home: () => setView(0, duration),
    ArrowUp: () => setAmp(amp * 2),
    ArrowDown: () => setAmp(amp / 2),
  });
  const resize = () => {
    // Resizing a canvas clears it: draw what is at hand at once, then fetch for the new size.
    paint();
    loadOverview();
    loadZoom();
    analyses.draw(view);
    notes.draw(view);
  };
  window.addEventListener("resize", resize);
  // Leaving the view: no sound, no resize handler left behind.
  whenLeft(signal, () => {
    window.removeEventListener("resize", resize);
    // Without load() a detached player keeps its connection (one of the browser's six).
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
  });
  scale.addEventListener("change", () => {
    spectrogram.dataset.start = "";
    loadZoom();
  });

  // The item's analyses and visible annotation tracks in one file, in the formats of the tools
  // people open them with.
  const exportsBar = h("p", { class: "toolbar", "aria-label": "Export results and annotations" },
    h("span", { class: "muted" }, "Export results and annotations:"),
    [["jams", "JAMS"], ["eaf", "ELAN"], ["TextGrid", "Praat TextGrid"], ["vtt", "WebVTT"], ["txt", "Audacity labels"],
      ["svl", "Sonic Visualiser"]].map(([ext, name]) =>
      h("a", { href: "#", onclick: (e) => download(e, `/items/${uuid}/export.${ext}`) }, name)),
    // Archive viewers (Universal Viewer, Clover, Mirador, ...) open the item from its manifest.
    h("a", { href: `/iiif/${uuid}/manifest.json`, "data-testid": "iiif-manifest", target: "_blank", rel: "noopener" }, "IIIF manifest"));

  root.replaceChildren(
    h("h1", {}, item.title || "(untitled)"),
    h("p", { class: "muted" }, `${clock(duration)} · ${[item.container, item.codec].filter(Boolean).join(" / ")} · ${rate} Hz · ${item.channels} ch`),
    h("div", { class: "toolbar" },
      play,
      h("button", { "data-testid": "zoom-in", "aria-label": "Zoom in", onclick: () => zoom(1 / ZOOM) }, "+"),
      h("button", { "data-testid": "zoom-out", "aria-label": "Zoom out", onclick: () => zoom(ZOOM) }, "−"),
      h("button", { "aria-label": "Show the whole item", onclick: () => setView(0, duration) }, "Whole"),
      h("button", { "data-testid": "amp-in", "aria-label": "Taller waveform (vertical zoom in)", onclick: () => setAmp(amp * 2) }, "↕+"),
      h("button", { "data-testid": "amp-out", "aria-label": "Shorter waveform (vertical zoom out)", onclick: () => setAmp(amp / 2) }, "↕−"),
      position, range, spanLabel,
      h("label", {}, "Spectrogram ", scale)),
    problem,
    overview,
    zoomview,
    spectroPane,
    tracksBox,
    notes.element,
    analyses.element,
    exportsBar,
    audio,
  );
  setView(0, duration);
  requestAnimationFrame(() => drawLegend(spectroSwatch));
  if (span) playSpan(span);
  if (item.ingest_state === "ingesting") followIngest();
  loadOverview();
}
