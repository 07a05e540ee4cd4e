// Chromium's own WebVTT parser on our cues: a <track> of the export, each cue's HTML as the
// browser renders it. Prints the cues as JSON; fails if a cue holds markup (a label `<b>` must
// show as text, not turn bold).
// Usage: node webvtt.mjs <file.vtt>

import fs from "node:fs";
import http from "node:http";
import { run, check, until } from "./browser.mjs";

const [vtt] = process.argv.slice(2);
const page = `<!doctype html><meta charset="utf-8"><video><track default kind="subtitles" src="/cues.vtt"></video>`;
const site = http.createServer((req, res) => {
  if (req.url === "/cues.vtt") res.writeHead(200, { "content-type": "text/vtt" }).end(fs.readFileSync(vtt));
  else if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(page);
  else res.writeHead(204).end();
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
try {
  await run(async (page) => {
    await page.goto(`http://127.0.0.1:${site.address().port}/`);
    const count = await until(
      page,
      () => page.evaluate(() => document.querySelector("track").track.cues?.length ?? 0),
      (n) => n > 0,
      "the track's cues load",
    );
    const cues = await page.evaluate(() =>
      Array.from(document.querySelector("track").track.cues, (cue) => {
        const html = cue.getCueAsHTML();
        return { text: html.textContent, elements: html.querySelectorAll("*").length };
      }),
    );
    check(cues.length === count, "cues");
    for (const cue of cues) check(cue.elements === 0, `markup in a cue: ${JSON.stringify(cue)}`);
    console.log(JSON.stringify(cues));
  });
} finally {
  site.close();
}
