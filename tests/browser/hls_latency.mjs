// hls.js in low-latency mode (its default) plays an LL-HLS playlist; how far behind the
// encoder it plays: now minus the program date of what it plays (`hls.playingDate`), sampled
// for 3 s after 6 s of playback. Prints {latency, samples} as JSON (latency: the median).
// Usage: node hls_latency.mjs <playlist url>

import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { run, check, until } from "./browser.mjs";

const [src] = process.argv.slice(2);
const require = createRequire(new URL("../../web/package.json", import.meta.url));
const hlsBundle = path.join(path.dirname(require.resolve("hls.js/package.json")), "dist/hls.js");
const page = `<!doctype html><meta charset="utf-8"><audio muted></audio><script src="/hls.js"></script>
<script>
  window.fatal = [];
  const audio = document.querySelector("audio");
  const hls = new Hls({ lowLatencyMode: true });
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (_, d) => d.fatal && window.fatal.push(d.type + ": " + d.details));
  hls.loadSource(new URLSearchParams(location.search).get("src"));
  hls.attachMedia(audio);
  hls.on(Hls.Events.MANIFEST_PARSED, () => audio.play());
</script>`;
const site = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/hls.js") res.writeHead(200, { "content-type": "text/javascript" }).end(fs.readFileSync(hlsBundle));
  else if (url.pathname === "/") res.writeHead(200, { "content-type": "text/html" }).end(page);
  else res.writeHead(404).end();
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));

await run(async (page) => {
  await page.goto(`http://127.0.0.1:${site.address().port}/?src=${encodeURIComponent(src)}`);
  const state = () => page.evaluate(() => ({ time: document.querySelector("audio").currentTime, fatal: window.fatal }));
  const playing = await until(page, state, (s) => s.time > 6 || s.fatal.length, "hls.js plays for 6 s", 30000);
  check(!playing.fatal.length, `hls.js failed: ${playing.fatal.join("; ")}`);
  const samples = [];
  for (let i = 0; i < 30; i++) {
    const behind = await page.evaluate(() => window.hls.playingDate && (Date.now() - window.hls.playingDate.getTime()) / 1000);
    if (behind !== null) samples.push(behind);
    await page.waitForTimeout(100);
  }
  check(samples.length > 20, `no playing date: ${JSON.stringify(samples)}`);
  samples.sort((a, b) => a - b);
  const fatal = await page.evaluate(() => window.fatal);
  check(!fatal.length, `hls.js failed: ${fatal.join("; ")}`);
  console.log(JSON.stringify({ latency: samples[samples.length >> 1], samples }));
});
site.close();
