// The web player in Debian's Chromium (headless, driven by playwright-core), against a server
// that holds a long item and plays the demo channel: what a person waits for.
//   node benches/player.mjs BASE_URL TOKEN ITEM_UUID MINUTES
// - item view, in a fresh browser (empty cache): time from navigation to the first overview
//   on screen; bytes transferred until the audio plays;
// - zoom and scroll steps (keys): time from the key to the frame that shows the new window's
//   data, down to single samples and back, then MINUTES of random steps while playing, the
//   page's JS heap (after a garbage collection) each minute;
// - live view of the demo channel for MINUTES: WebSocket receipt to painted meters, events
//   painted per second, the JS heap each minute.
// Prints Markdown. Browser, server and this script share the machine.

import { launch } from "../tests/browser/browser.mjs";

const [base, token, uuid, minutesArg] = process.argv.slice(2);
const minutes = Number(minutesArg || 10);
const browser = await launch();

/** A page with the bench's token as its session (an admin's: it reads the bench's item). */
async function page() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.addInitScript((access) => {
    localStorage.setItem("timeside.session", JSON.stringify({ access, username: "bench" }));
    // The first frame that shows the overview's data, in ms from navigation.
    window.benchmark = {};
    new MutationObserver(() => {
      if (!window.benchmark.overview && document.querySelector("[data-testid=overview][data-drawn]")) {
        window.benchmark.overview = -1;
        requestAnimationFrame(() => (window.benchmark.overview = performance.now()));
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-drawn"] });
  }, token);
  const p = await context.newPage();
  const cdp = await context.newCDPSession(p);
  return { p, cdp };
}

async function heapMB(cdp) {
  await cdp.send("HeapProfiler.collectGarbage");
  const { usedSize } = await cdp.send("Runtime.getHeapUsage");
  return usedSize / 1048576;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const ms = (v) => `${(v ?? NaN).toFixed(1)} ms`;

// Presses `key` on the item view; resolves with the ms until the frame that shows the data of
// the new window, or null when the key did not move the window.
function step(p, key) {
  return p.evaluate(async (key) => {
    const z = document.querySelector("[data-testid=zoomview]");
    const before = z.dataset.start + z.dataset.stop;
    const t0 = performance.now();
    document.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
    if (z.dataset.start + z.dataset.stop === before) return null;
    for (;;) {
      await new Promise((r) => requestAnimationFrame(r));
      if (z.dataset.drawnStart === z.dataset.start && z.dataset.drawnStop === z.dataset.stop) return performance.now() - t0;
      if (performance.now() - t0 > 10000) return 10000;
    }
  }, key);
}

// --- Item view: first overview, bytes before playback.
const { p, cdp } = await page();
await cdp.send("Network.enable");
await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
// Bytes on the wire per request (what came so far, or its total once finished), by kind.
const received = new Map();
const kinds = new Map();
const kindOf = (url) => {
  const path = new URL(url).pathname;
  if (path.includes("/download/")) return "audio";
  if (path.endsWith("/waveform")) return "waveform";
  if (path.endsWith("spectrogram.png")) return "spectrogram";
  if (path.startsWith("/api/")) return "api";
  return "page";
};
cdp.on("Network.requestWillBeSent", (e) => kinds.set(e.requestId, kindOf(e.request.url)));
// (Media requests report their chunks in dataLength only.)
cdp.on("Network.dataReceived", (e) => received.set(e.requestId, (received.get(e.requestId) || 0) + (e.encodedDataLength || e.dataLength)));
cdp.on("Network.loadingFinished", (e) => received.set(e.requestId, Math.max(received.get(e.requestId) || 0, e.encodedDataLength)));
const bytes = () => [...received.values()].reduce((a, b) => a + b, 0);
const byKind = () => {
  const sums = {};
  for (const [id, n] of received) sums[kinds.get(id) || "?"] = (sums[kinds.get(id) || "?"] || 0) + n;
  return Object.entries(sums).map(([k, n]) => `${k} ${(n / 1e3).toFixed(0)} kB`).join(", ");
};
await p.goto(`${base}/#/items/${uuid}`);
await p.waitForFunction(() => window.benchmark.overview > 0, null, { timeout: 60000 });
const firstOverview = await p.evaluate(() => window.benchmark.overview);
const beforePlay = bytes();
await p.evaluate(() => new Promise((resolve) => {
  document.querySelector("audio").addEventListener("playing", resolve, { once: true });
  document.querySelector("[data-testid=play]").click();
}));
const atPlaying = bytes();
const atPlayingKinds = byKind();
console.log(`## Web player in Chromium (headless, 1280x720)`);
console.log(`| measure | value | target |\n|---|---|---|`);
console.log(`| item view: navigation to first overview on screen | ${ms(firstOverview)} | < 1 s |`);
console.log(`| bytes transferred until the audio plays (page, data, audio) | ${(atPlaying / 1e6).toFixed(2)} MB (${(beforePlay / 1e6).toFixed(2)} MB before play was pressed; ${atPlayingKinds}) | ≤ 2 MB |`);

// --- Zoom to single samples and back, scrolling at each level.
const steps = [];
for (let level = 0; level < 24; level++) {
  for (const key of ["+", "ArrowRight", "ArrowRight"]) {
    const t = await step(p, key);
    if (t !== null) steps.push(t);
  }
}
for (let level = 0; level < 24; level++) {
  const t = await step(p, "-");
  if (t !== null) steps.push(t);
}
const sorted = [...steps].sort((a, b) => a - b);
console.log(`| zoom/scroll step to redrawn window, whole item to samples and back (${steps.length} steps) | p50 ${ms(quantile(sorted, 0.5))}, p95 ${ms(quantile(sorted, 0.95))}, max ${ms(sorted.at(-1))} | < 100 ms |`);

// --- Minutes of random steps while playing; heap each minute.
let seed = 7;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const keys = ["+", "+", "-", "-", "ArrowLeft", "ArrowRight", "ArrowRight", "Home"];
const heaps = [await heapMB(cdp)];
const more = [];
const started = Date.now();
let nextSample = started + 60000;
while (Date.now() - started < minutes * 60000) {
  if (random() < 0.05) {
    // A click on the overview: seek there.
    const box = await p.getByTestId("overview").boundingBox();
    await p.mouse.click(box.x + random() * box.width, box.y + box.height / 2);
  } else {
    const t = await step(p, keys[Math.floor(random() * keys.length)]);
    if (t !== null) more.push(t);
  }
  await p.waitForTimeout(150 + random() * 350);
  if (Date.now() >= nextSample) {
    heaps.push(await heapMB(cdp));
    nextSample += 60000;
  }
}
heaps.push(await heapMB(cdp));
const playing = await p.evaluate(() => !document.querySelector("audio").paused);
const moreSorted = more.sort((a, b) => a - b);
console.log(`| ${minutes} min of random zoom/scroll/seek while playing (${more.length} steps) | p50 ${ms(quantile(moreSorted, 0.5))}, p95 ${ms(quantile(moreSorted, 0.95))}, max ${ms(moreSorted.at(-1))} | < 100 ms |`);
console.log(`| JS heap after GC, each minute (MB) | ${heaps.map((h) => h.toFixed(1)).join(", ")}${playing ? "" : " (audio had stopped)"} | < 100 MB |`);
await p.context().close();

// --- Live view of the demo channel.
const live = await page();
await live.p.goto(`${base}/#/live/demo`);
await live.p.waitForFunction(() => window.timesideLiveLatency?.count > 20, null, { timeout: 30000 });
// Play to stop: how long the stream without its burst takes to start (then stopped: the meters
// below are painted as events come).
const liveStartMs = await live.p.evaluate(() => new Promise((resolve) => {
  const audio = document.querySelector("audio");
  const t0 = performance.now();
  audio.addEventListener("playing", () => resolve(performance.now() - t0), { once: true });
  document.querySelector("[data-testid=play]").click();
}));
await live.p.getByTestId("play").click();
await live.p.evaluate(() => Object.assign(window.timesideLiveLatency, { count: 0, sum: 0, max: 0, buckets: new Array(41).fill(0) }));
const liveHeaps = [await heapMB(live.cdp)];
const liveStart = Date.now();
for (let m = 0; m < minutes; m++) {
  await live.p.waitForTimeout(60000);
  liveHeaps.push(await heapMB(live.cdp));
}
const l = await live.p.evaluate(() => window.timesideLiveLatency);
const seconds = (Date.now() - liveStart) / 1000;
let seen = 0;
const p99 = l.buckets.findIndex((n) => (seen += n) >= 0.99 * l.count) * 5;
console.log(`| live view: WebSocket receipt to painted meters (${l.count} events in ${seconds.toFixed(0)} s, ${(l.count / seconds).toFixed(1)}/s) | mean ${ms(l.sum / l.count)}, p99 < ${p99 + 5} ms, max ${ms(l.max)} | < 50 ms |`);
console.log(`| live view: Play to sound, MP3 mount without its burst (\`?burst=off\`) | ${ms(liveStartMs)} | |`);
console.log(`| live view: JS heap after GC, each minute (MB) | ${liveHeaps.map((h) => h.toFixed(1)).join(", ")} | flat |`);
await browser.close();
