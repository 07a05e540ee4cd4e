// hls.js (npm, its UMD bundle) on a page of another origin plays a channel's master playlist
// in an <audio> element, and hears the now-playing title change through the ID3 timed
// metadata of the segments: the first title, then the new one after this script changes it
// (Icecast's metadata update, as a source client sends it). It also collects the analysis
// events (ID3 TXXX frames) and prints what it heard as JSON for the test to check.
// Usage: node hls.mjs <server base> <channel> <first title> <new title> <source user:password>

import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { run, check, until } from "./browser.mjs";

const [base, channel, firstTitle, newTitle, credentials] = process.argv.slice(2);
const require = createRequire(new URL("../../web/package.json", import.meta.url));
const hlsBundle = path.join(path.dirname(require.resolve("hls.js/package.json")), "dist/hls.js");

const page = `<!doctype html><meta charset="utf-8"><title>hls.js</title>
<audio muted></audio>
<script src="/hls.js"></script>
<script>
  // The frames of an ID3v2.4 tag (UTF-8 text frames, syncsafe sizes): [id, text after the
  // encoding byte].
  function frames(tag) {
    const size = (b) => (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3];
    const end = 10 + size(tag.subarray(6, 10));
    const out = [];
    for (let at = 10; at + 10 <= end; ) {
      const id = String.fromCharCode(...tag.subarray(at, at + 4));
      const length = size(tag.subarray(at + 4, at + 8));
      out.push([id, new TextDecoder().decode(tag.subarray(at + 11, at + 10 + length))]);
      at += 10 + length;
    }
    return out;
  }
  function title(tag) {
    const found = frames(tag).find(([id]) => id === "TIT2");
    return found ? found[1] : null;
  }
  window.titles = [];
  window.events = [];
  window.fatal = [];
  const audio = document.querySelector("audio");
  const hls = new Hls();
  hls.on(Hls.Events.FRAG_PARSING_METADATA, (_, data) => {
    for (const sample of data.samples) {
      for (const [id, text] of frames(sample.data)) {
        // (The page is HTML: a NUL in its source would become U+FFFD.)
        const [name, value] = text.split("\\u0000");
        if (id === "TXXX" && window.events.length < 500) window.events.push({ name, ...JSON.parse(value) });
      }
      const t = title(sample.data);
      if (t !== null && window.titles[window.titles.length - 1] !== t) window.titles.push(t);
    }
  });
  hls.on(Hls.Events.ERROR, (_, data) => data.fatal && window.fatal.push(data.type + ": " + data.details));
  hls.loadSource(new URLSearchParams(location.search).get("src"));
  hls.attachMedia(audio);
  hls.on(Hls.Events.MANIFEST_PARSED, () => audio.play());
</script>`;

const site = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/hls.js") {
    res.writeHead(200, { "content-type": "text/javascript" }).end(fs.readFileSync(hlsBundle));
  } else if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${site.address().port}`;

await run(async (page) => {
  const src = `${base}/live/${channel}/index.m3u8`;
  await page.goto(`${origin}/?src=${encodeURIComponent(src)}`);
  const state = () => page.evaluate(() => {
    const a = document.querySelector("audio");
    return { time: a.currentTime, paused: a.paused, titles: window.titles, fatal: window.fatal, events: window.events };
  });
  const playing = await until(page, state, (s) => s.time > 2 || s.fatal.length, "hls.js plays the stream", 30000);
  check(!playing.fatal.length, `hls.js failed: ${playing.fatal.join("; ")}`);
  // The title is in the segments' metadata, parsed as hls.js loads them: under load the first
  // may be parsed after two seconds have played.
  const titled = await until(page, state, (s) => s.titles.length || s.fatal.length, "a title arrives", 15000);
  check(titled.titles[0] === firstTitle, `the first title: ${JSON.stringify(titled.titles)}`);

  // The title changes; the player reads the new one from the segments it plays next.
  const update = `${base}/admin/metadata?mount=/${channel}&mode=updinfo&song=${encodeURIComponent(newTitle)}`;
  const reply = await fetch(update, { headers: { authorization: "Basic " + Buffer.from(credentials).toString("base64") } });
  check(reply.ok, `metadata update: ${reply.status}`);
  const after = await until(page, state, (s) => s.titles.includes(newTitle) || s.fatal.length, "the new title arrives", 30000);
  check(!after.fatal.length, `hls.js failed: ${after.fatal.join("; ")}`);
  check(after.titles.indexOf(newTitle) > after.titles.indexOf(firstTitle), `titles in order: ${JSON.stringify(after.titles)}`);
  const played = await state();
  check(!played.paused && played.time > playing.time, `still playing: ${JSON.stringify(played)}`);
  console.log(JSON.stringify(played));
});
site.close();
