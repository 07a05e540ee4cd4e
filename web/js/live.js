// The live views. `#/live` lists every channel with its state, listeners and what is playing;
// `#/live/{id}` plays one of its mounts and draws the channel's analysis from its WebSocket
// topic (`live:{id}`): peak and RMS meters, loudness (momentary, short-term, integrated against
// the channel's target, true peak), a spectrum, an event timeline and a waveform that grows as
// the stream plays.
//
// Alignment: events come as the server decodes, ahead of what a listener hears (its player
// buffers). While the mount plays, events wait in a queue until the audio reaches their
// `stream_time`. The player asks for the stream without its burst of recent audio
// (`?burst=off`), so its first sample is the channel's live edge when it asked (the newest
// event's stream time, moved on by the wall clock since it came), and what is heard is that
// plus the audio's `currentTime`, however much the player buffers or stalls. Stopped, events
// are drawn on the next frame after they come.

import { call, followWhileShown } from "./api.js";
import { clock, h, viewKeys, whenLeft } from "./dom.js";
import { COLORS, FLOOR, LEVEL_RANGE, LOUDNESS_RANGE, TIMELINE_SPAN_S, drawBars, drawSpectrum, format, growingWave, timeline }
  from "./meters.js";

/** How long a peak-hold mark stays before it falls back to the signal (ms). */
const HOLD_MS = 1500;
/** Events kept waiting for the audio to reach them (about a minute at the default rates). */
const QUEUE_MAX = 4000;
/** Notable events listed under the timeline. */
const LOG_MAX = 20;
/** How often channel states (listeners, source, now playing) are read again (ms). */
const STATUS_EVERY_MS = 2000;

function listeners(channel) {
  return channel.mounts.reduce((sum, m) => sum + m.listeners, 0);
}

function stateOf(channel) {
  if (channel.source_connected) return { text: "on air", cls: "ok" };
  return { text: channel.source_error ? `source down: ${channel.source_error}` : "waiting for its source", cls: "error" };
}

/** Re-runs `task` every `ms` until the view is left; `task` runs once at once. */
function repeatUntilLeft(signal, task, ms) {
  task();
  const timer = setInterval(task, ms);
  whenLeft(signal, () => clearInterval(timer));
}

/** Channels whose levels the list follows (one WebSocket topic each; the server allows 64). */
const LIST_LEVELS_MAX = 60;

export async function liveListView(root, signal) {
  const body = h("tbody");
  const problem = h("p", { class: "error", role: "alert" });
  root.replaceChildren(
    h("h1", {}, "Live channels"),
    problem,
    h("table", { "aria-label": "Live channels" },
      h("thead", {}, h("tr", {}, h("th", {}, "Channel"), h("th", {}, "State"), h("th", { class: "hide-narrow" }, "Level"),
        h("th", {}, "Listeners"), h("th", {}, "Now playing"), h("th", { class: "hide-narrow" }, "Mounts"))),
      body),
  );
  const rows = new Map();
  const row = (c) => {
    const cells = { state: h("span"), listeners: h("td", { class: "num" }), playing: h("td"),
      level: h("meter", { min: LEVEL_RANGE[0], max: 0, low: -18, high: -6, optimum: -30, value: LEVEL_RANGE[0],
        "aria-label": `Peak level of ${c.name}` }) };
    const tr = h("tr", { "data-testid": "live-channel", "data-id": c.id },
      h("td", {}, h("a", { href: `#/live/${encodeURIComponent(c.id)}` }, c.name)),
      h("td", {}, cells.state), h("td", { class: "hide-narrow" }, cells.level), cells.listeners, cells.playing,
      h("td", { class: "hide-narrow" }, c.mounts.map((m, n) => [n ? " " : "", h("a", { href: m.url }, m.format)])));
    return { tr, cells };
  };
  // Each channel's peak level, from its `level` events.
  const followed = new Set();
  const socket = followWhileShown([], (e) => {
    const shown = e.event === "level" && rows.get(e.topic.slice("live:".length));
    if (shown) shown.cells.level.value = Math.max(LEVEL_RANGE[0], ...e.peak_dbfs);
  }, signal);
  repeatUntilLeft(signal, async () => {
    try {
      const { channels } = await call("GET", "/live", undefined, { signal });
      problem.textContent = "";
      const seen = new Set(channels.map((c) => c.id));
      for (const id of rows.keys()) if (!seen.has(id)) rows.delete(id);
      for (const c of channels) {
        if (!rows.has(c.id)) rows.set(c.id, row(c));
        if (!followed.has(c.id) && followed.size < LIST_LEVELS_MAX) {
          followed.add(c.id);
          socket.subscribe(`live:${c.id}`);
        }
        const { cells } = rows.get(c.id);
        const state = stateOf(c);
        Object.assign(cells.state, { textContent: state.text, className: state.cls });
        cells.listeners.textContent = listeners(c);
        cells.playing.textContent = c.now_playing;
      }
      body.replaceChildren(...[...rows.values()].map((r) => r.tr));
      if (!channels.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No live channels.")));
    } catch (e) {
      problem.textContent = e.message;
    }
  }, STATUS_EVERY_MS);
}

/** The newest value of each meter, with peak holds. */
function meterState() {
  return {
    peak: [], rms: [], hold: [], holdAt: [],
    momentary: FLOOR, shortTerm: FLOOR, integrated: FLOOR, truePeak: FLOOR,
    bands: [], magnitudes: [], bandHold: [],
    pitch: 0, tempo: 0, streamTime: 0,
  };
}

const NOTES = ["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"];
function note(hz) {
  const midi = Math.round(69 + 12 * Math.log2(hz / 440));
  return `${NOTES[((midi % 12) + 12) % 12]}${Math.floor(midi / 12) - 1}`;
}

/** A channel's view: player, meters, spectrum, timeline and growing waveform. */
export async function liveChannelView(root, signal, id) {
  const channel = await call("GET", `/live/${encodeURIComponent(id)}`, undefined, { signal });
  root.dataset.testid = "live-view";
  const state = meterState();
  const wave = growingWave();
  const events = timeline();
  const queue = [];
  // Newest event received: its stream time and when it came (the live edge).
  let edge = null;

  // Paint latency (WebSocket receipt to the end of the paint that shows it), kept for the
  // browser benchmark: a count, sum, max, and 5 ms buckets up to 200 ms (the last: beyond).
  const latency = { count: 0, sum: 0, max: 0, buckets: new Array(41).fill(0) };
  window.timesideLiveLatency = latency;

  const heading = h("h1", {}, channel.name);
  const stateEl = h("span");
  const listenersEl = h("span", { class: "num" });
  const playing = h("span", { "aria-live": "polite" });
  const problem = h("p", { class: "error", role: "alert" });
  const audio = h("audio", { preload: "none" });
  const mount = h("select", { "aria-label": "Stream format" },
    channel.mounts.map((m) => h("option", { value: m.url }, `${m.format.toUpperCase()} stream`)));
  const play = h("button", { "data-testid": "play", "aria-label": "Play the stream" }, "Play");
  const position = h("output", { class: "muted", "aria-label": "Stream time shown" });

  const peakCanvas = h("canvas", { class: "meter", role: "img", "aria-label": "Peak and RMS level per audio channel" });
  const peakText = h("output", { class: "readout" });
  const peakMeter = h("figure", { class: "meter-box", "data-testid": "meter-peak" },
    h("figcaption", {}, "Level (dBFS): peak and RMS"), peakCanvas, peakText);
  const loudCanvas = h("canvas", { class: "meter", role: "img", "aria-label": "Loudness: momentary, short-term, integrated and target" });
  const loudText = h("output", { class: "readout" });
  const loudMeter = h("figure", { class: "meter-box", "data-testid": "meter-loudness" },
    h("figcaption", {}, `Loudness (LUFS): momentary, short-term; integrated (white line) and target ${channel.loudness_target_lufs} (dashed)`), loudCanvas, loudText);
  const spectrumCanvas = h("canvas", { class: "spectrum", "data-testid": "spectrum", role: "img", "aria-label": "Spectrum" });
  const pitchText = h("output", { class: "readout" });
  const timelineCanvas = h("canvas", { class: "timeline", role: "img", "aria-label": `Events of the last ${TIMELINE_SPAN_S} s` });
  const log = h("ul", { class: "event-log", "aria-live": "polite", "aria-label": "Latest events" });
  const timelineBox = h("figure", { class: "meter-box", "data-testid": "event-timeline" },
    h("figcaption", {}, "Events: onsets, silence, clipping, source, titles"), timelineCanvas, log);
  const waveCanvas = h("canvas", { class: "live-wave", "data-testid": "live-waveform", role: "img", "aria-label": "Waveform of the stream so far" });

  let lastStatus = channel;
  function showStatus(c) {
    lastStatus = c;
    const s = stateOf(c);
    Object.assign(stateEl, { textContent: s.text, className: s.cls });
    listenersEl.textContent = `${listeners(c)} listening`;
    playing.textContent = c.now_playing;
  }
  showStatus(channel);

  // The live edge: the newest event's stream time, moved on by the wall clock since it came.
  const liveEdge = () => (edge ? edge.streamTime + (performance.now() - edge.at) / 1000 : null);
  // Stream time of the first sample of what the player gets: it asks for no burst of recent
  // audio, so its stream starts at the live edge of the moment it asked.
  let streamStart = null;
  // Where the listener is in stream time (held at the start while the player buffers), or
  // null when not playing (then events show at once).
  function heard() {
    if (audio.paused || streamStart === null) return null;
    return streamStart + audio.currentTime;
  }

  function apply(e) {
    state.streamTime = Math.max(state.streamTime, e.stream_time);
    events.advance(e.stream_time);
    switch (e.event) {
      case "level": {
        const now = performance.now();
        state.peak = e.peak_dbfs;
        state.rms = e.rms_dbfs;
        e.peak_dbfs.forEach((p, i) => {
          if (!(state.hold[i] > p) || now - state.holdAt[i] > HOLD_MS) {
            state.hold[i] = p;
            state.holdAt[i] = now;
          }
        });
        wave.add(e.stream_time, Math.max(...e.peak_dbfs.map((db) => 10 ** (db / 20))));
        break;
      }
      case "loudness":
        state.momentary = e.momentary_lufs;
        state.shortTerm = e.short_term_lufs;
        state.integrated = e.integrated_lufs ?? FLOOR;
        state.truePeak = e.true_peak_dbtp;
        break;
      case "spectrum":
        state.bands = e.bands_hz;
        state.magnitudes = e.magnitude_dbfs;
        state.bandHold = e.magnitude_dbfs.map((m, i) => Math.max(m, (state.bandHold[i] ?? FLOOR) - 1.5));
        break;
      case "pitch":
        state.pitch = e.frequency_hz;
        break;
      case "tempo":
        state.tempo = e.bpm;
        break;
      default: {
        // Onsets, silence, clipping, source and title events go on the timeline; all but
        // onsets are listed too. (Framewise analyzers' events are not drawn here.)
        if (!events.add(e) || e.event === "onset") break;
        if (e.event === "metadata") playing.textContent = e.title;
        if (e.event === "source_connected" || e.event === "source_disconnected") {
          showStatus({ ...lastStatus, source_connected: e.event === "source_connected", source_error: e.message });
        }
        const text = e.event === "metadata" ? `now playing: ${e.title}` : e.message ? `${e.event.replace("_", " ")}: ${e.message}` : e.event.replace("_", " ");
        log.prepend(h("li", {}, h("span", { class: "muted" }, clock(e.stream_time)), " ", text));
        while (log.children.length > LOG_MAX) log.lastChild.remove();
      }
    }
  }

  function paint() {
    // A peak at full scale (clipping) turns its bar red.
    const peaks = state.peak.map((p, i) => ({ label: ["L", "R"][i] ?? String(i + 1), value: p, hold: state.hold[i],
      color: p > -0.1 ? COLORS.danger : COLORS.peak, under: state.rms[i] }));
    drawBars(peakCanvas, LEVEL_RANGE, peaks.length ? peaks : [{ label: "", value: FLOOR, color: COLORS.peak }]);
    peakText.textContent = state.peak.map((p, i) => `${peaks[i].label} peak ${format(p, "dBFS")}, RMS ${format(state.rms[i], "dBFS")}`).join(" · ");
    peakMeter.dataset.peakDbfs = state.peak.map((p) => p.toFixed(2)).join(",");
    peakMeter.dataset.rmsDbfs = state.rms.map((p) => p.toFixed(2)).join(",");
    drawBars(loudCanvas, LOUDNESS_RANGE, [
      { label: "M", value: state.momentary, color: COLORS.peak },
      { label: "S", value: state.shortTerm, color: COLORS.ok },
    ], [
      { value: channel.loudness_target_lufs, color: COLORS.muted, dashed: true },
      ...(state.integrated > FLOOR + 1 ? [{ value: state.integrated, color: COLORS.text }] : []),
    ]);
    loudText.textContent = `M ${format(state.momentary, "LUFS")} · S ${format(state.shortTerm, "LUFS")} · I ${format(state.integrated, "LUFS")} · true peak ${format(state.truePeak, "dBTP")}`;
    Object.assign(loudMeter.dataset, {
      momentaryLufs: state.momentary.toFixed(2), shortTermLufs: state.shortTerm.toFixed(2),
      integratedLufs: state.integrated.toFixed(2), truePeakDbtp: state.truePeak.toFixed(2),
    });
    drawSpectrum(spectrumCanvas, state);
    pitchText.textContent = [state.pitch > 0 ? `pitch ${state.pitch.toFixed(1)} Hz (${note(state.pitch)})` : "no pitch",
      state.tempo > 0 ? `tempo ${state.tempo.toFixed(1)} BPM` : ""].filter(Boolean).join(" · ");
    events.draw(timelineCanvas);
    timelineBox.dataset.marks = events.count;
    wave.draw(waveCanvas);
    position.textContent = `at ${clock(state.streamTime)}` + (audio.paused ? "" : " (as heard)");
    root.dataset.streamTime = state.streamTime.toFixed(2);
  }

  // Each frame: apply the events the listener has reached (all of them when not playing), and
  // paint once if any came.
  function frame() {
    if (signal.aborted) return;
    const until = heard();
    const shownAt = [];
    let dirty = false;
    while (queue.length && (until === null || queue[0].stream_time <= until)) {
      const e = queue.shift();
      apply(e);
      // Only events that came while stopped measure receipt to paint: the others waited
      // for the audio on purpose.
      if (until === null && !e.cameWhilePlaying) shownAt.push(e.receivedAt);
      dirty = true;
    }
    if (dirty) {
      paint();
      const painted = performance.now();
      for (const at of shownAt) {
        const ms = painted - at;
        latency.count++;
        latency.sum += ms;
        latency.max = Math.max(latency.max, ms);
        latency.buckets[Math.min(40, Math.floor(ms / 5))]++;
      }
    }
    requestAnimationFrame(frame);
  }

  function onEvent(e) {
    if (e.event === "subscribed" || e.event === "unsubscribed") return;
    if (e.event === "error") {
      problem.textContent = e.message;
      return;
    }
    if (e.event === "channel_removed") {
      problem.textContent = "This channel was removed.";
      audio.pause();
      return;
    }
    e.receivedAt = performance.now();
    e.cameWhilePlaying = !audio.paused;
    if (e.event === "level") {
      edge = { streamTime: e.stream_time, at: e.receivedAt };
      root.dataset.liveEdge = e.stream_time.toFixed(2);
    }
    queue.push(e);
    if (queue.length > QUEUE_MAX) queue.splice(0, queue.length - QUEUE_MAX);
  }

  // A live stream starts from its live edge each time it plays (a paused one would fall
  // behind), and stops downloading when stopped.
  function start() {
    streamStart = liveEdge();
    audio.src = `${mount.value}?latency=low&burst=off`;
    audio.play().catch((e) => (problem.textContent = "cannot play: " + e.message));
  }
  function stop() {
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
  }
  play.addEventListener("click", () => (audio.paused ? start() : stop()));
  mount.addEventListener("change", () => !audio.paused && start());
  audio.addEventListener("play", () => Object.assign(play, { textContent: "Stop", ariaLabel: "Stop the stream" }));
  audio.addEventListener("pause", () => Object.assign(play, { textContent: "Play", ariaLabel: "Play the stream" }));
  audio.addEventListener("error", () => audio.getAttribute("src") && (problem.textContent = "the stream cannot be played in this browser"));

  root.replaceChildren(
    h("p", {}, h("a", { href: "#/live" }, "← Live channels")),
    heading,
    h("p", { class: "toolbar" }, stateEl, listenersEl, h("span", { class: "muted" }, "Now playing:"), playing),
    h("div", { class: "toolbar" }, play, mount, position, audio),
    problem,
    h("div", { class: "live-grid" },
      peakMeter, loudMeter,
      h("figure", { class: "meter-box" }, h("figcaption", {}, "Spectrum (dBFS per band)"), spectrumCanvas, pitchText),
      timelineBox),
    h("figure", { class: "meter-box" }, h("figcaption", {}, "Waveform since the page opened"), waveCanvas),
  );

  // Space plays and stops, as in the item view.
  viewKeys(signal, { " ": () => play.click() });
  whenLeft(signal, stop);
  // Opened again after a lost connection (a server restart) until the view is left.
  followWhileShown(`live:${id}`, onEvent, signal);
  requestAnimationFrame(frame);
  repeatUntilLeft(signal, async () => {
    try {
      showStatus(await call("GET", `/live/${encodeURIComponent(id)}`, undefined, { signal }));
    } catch (e) {
      if (e.status === 404) problem.textContent = "This channel was removed.";
    }
  }, STATUS_EVERY_MS);
}
