// An archive viewer opening our IIIF manifest: Clover IIIF (npm, its web-component bundle) on
// a page of another origin, as an archive's site would embed it. It reads the manifest, shows
// the item's label and plays the painted audio from our server. Then the player opens the
// item's own address with a media fragment and plays that span only.
// Usage: node iiif.mjs <server base> <item uuid> <item title>

import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { run, check, until } from "./browser.mjs";

const [base, uuid, title] = process.argv.slice(2);
const require = createRequire(new URL("../../web/package.json", import.meta.url));
const clover = path.join(path.dirname(require.resolve("@samvera/clover-iiif/package.json")), "dist/web-components/index.umd.js");
const manifest = `${base}/iiif/${uuid}/manifest.json`;

const page = `<!doctype html><meta charset="utf-8"><title>Clover IIIF</title>
<script src="/clover.js"></script>
<clover-viewer id="${manifest}"></clover-viewer>`;

// The page's origin: another port than the server's.
const site = http.createServer((req, res) => {
  if (req.url === "/") res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
  else if (req.url === "/clover.js") res.writeHead(200, { "content-type": "text/javascript" }).end(fs.readFileSync(clover));
  else res.writeHead(404).end();
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${site.address().port}`;

await run(async (page) => {
  const fetched = [];
  page.on("response", (r) => r.url().startsWith(base) && fetched.push(`${r.status()} ${r.url()}`));
  await page.goto(origin);
  // Clover draws the manifest's label and a media element for the painted Sound.
  await until(page, () => page.locator("clover-viewer").innerText().catch(() => ""), (t) => t.includes(title),
    `Clover shows the label "${title}"`);
  const media = page.locator("clover-viewer video, clover-viewer audio").first();
  await media.waitFor({ state: "attached", timeout: 15000 });
  const audioUrl = `${base}/api/v1/items/${uuid}/download/original`;
  const source = await until(page, () => media.evaluate((m) => m.currentSrc || m.src || m.querySelector("source")?.src || ""),
    (s) => s !== "", "Clover gives the media element a source");
  check(source === audioUrl, `Clover plays the painted audio: ${source}, not ${audioUrl}`);
  // It plays, from our server, across origins.
  await media.evaluate((m) => { m.muted = true; return m.play(); });
  await until(page, () => media.evaluate((m) => m.currentTime), (t) => t > 0.3, "the audio plays in Clover");
  check(fetched.some((f) => f.startsWith("200 ") && f.includes("/manifest.json")), `the manifest was read: ${fetched}`);

  // The player at the item's own address with a media fragment: it shows the span, plays it
  // and pauses at its end.
  await page.goto(`${base}/items/${uuid}#t=1.5,2.5`);
  const label = page.getByTestId("fragment");
  await until(page, () => label.innerText(), (t) => t.startsWith("span 0:01 – 0:02"), "the span is shown");
  const zoom = page.getByTestId("zoomview");
  const window = await until(page, () => zoom.evaluate((z) => [z.dataset.start, z.dataset.stop]),
    (w) => w[0] === "1.400000", "the zoomed view frames the span");
  check(window[1] === "2.600000", `the zoomed view ends after the span: ${window}`);
  const audio = page.locator("audio");
  await until(page, () => audio.evaluate((a) => [a.paused, a.currentTime]), ([paused, t]) => !paused && t >= 1.5,
    "the span plays from its start", 20000);
  const [, stopped] = await until(page, () => audio.evaluate((a) => [a.paused, a.currentTime]), ([paused]) => paused,
    "the player pauses at the span's end", 20000);
  check(stopped >= 2.5 && stopped < 3.0, `paused at ${stopped} s, the span ends at 2.5 s`);
});
// The page's server ends with the test, passed or failed.
site.closeAllConnections();
site.close();
