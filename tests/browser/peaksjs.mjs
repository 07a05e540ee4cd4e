// peaks.js 4 (npm, its UMD bundle) on a page of another origin, reading our peaks at their
// defaults: the server's `peaks.dat` (cross-origin) and the file `timeside peaks` writes with
// the README's recipe. For each, both views draw, zoom and seek work, and the page logs no error.
// Usage: node peaksjs.mjs <server base> <item uuid> <cli .dat file> <seconds>

import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { run, check, until } from "./browser.mjs";

const [base, uuid, cliDat, seconds] = process.argv.slice(2);
const require = createRequire(new URL("../../web/package.json", import.meta.url));
const peaksBundle = path.join(path.dirname(require.resolve("peaks.js/package.json")), "dist/peaks.js");

const page = `<!doctype html><meta charset="utf-8"><title>peaks.js</title>
<div id="zoomview" style="width: 1000px; height: 200px"></div>
<div id="overview" style="width: 1000px; height: 80px"></div>
<audio preload="auto"></audio>
<script src="/peaks.js"></script>
<script>
  const query = new URLSearchParams(location.search);
  const audio = document.querySelector("audio");
  audio.src = query.get("audio");
  peaks.init({
    zoomview: { container: document.getElementById("zoomview") },
    overview: { container: document.getElementById("overview") },
    mediaElement: audio,
    dataUri: { arraybuffer: query.get("data") },
    zoomLevels: [256, 512, 1024, 2048],
  }, (error, instance) => {
    window.instance = instance;
    window.initResult = error ? "error: " + (error.message || error) : "ok";
  });
</script>`;

// The page's origin: another port than the server's.
const site = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  const files = { "/peaks.js": [peaksBundle, "text/javascript"], "/cli.dat": [cliDat, "application/octet-stream"] };
  if (url.pathname === "/favicon.ico") {
    res.writeHead(204).end();
  } else if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
  } else if (files[url.pathname]) {
    const [file, type] = files[url.pathname];
    res.writeHead(200, { "content-type": type }).end(fs.readFileSync(file));
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${site.address().port}`;

/** Pixels drawn (not transparent) on the canvases of a view. */
function drawn(page, view) {
  return page.evaluate((id) => {
    let count = 0;
    for (const canvas of document.querySelectorAll(`#${id} canvas`)) {
      const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) count++;
    }
    return count;
  }, view);
}

try {
  await run(async (page) => {
    const errors = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    const audio = `${base}/api/v1/items/${uuid}/download/original`;
    const sources = {
      "the server's peaks.dat (defaults, another origin)": `${base}/api/v1/items/${uuid}/peaks.dat`,
      "timeside peaks --bits 8 (the README's recipe)": `${origin}/cli.dat`,
    };
    for (const [what, data] of Object.entries(sources)) {
      await page.goto(`${origin}/?data=${encodeURIComponent(data)}&audio=${encodeURIComponent(audio)}`);
      const result = await until(page, () => page.evaluate(() => window.initResult), Boolean, `${what}: Peaks.init`);
      check(result === "ok", `${what}: Peaks.init said ${result}`);
      for (const view of ["zoomview", "overview"]) {
        const pixels = await until(page, () => drawn(page, view), (n) => n > 1000, `${what}: the ${view} draws`);
        console.log(`${what}: ${view} ${pixels} pixels drawn`);
      }
      // Zoom: a coarser level redraws the zoom view.
      const before = await page.evaluate(() => document.querySelector("#zoomview canvas").toDataURL());
      await page.evaluate(() => window.instance.zoom.setZoom(3));
      check((await page.evaluate(() => window.instance.zoom.getZoom())) === 3, `${what}: zoom level`);
      await until(
        page,
        () => page.evaluate(() => document.querySelector("#zoomview canvas").toDataURL()),
        (now) => now !== before,
        `${what}: the zoom view redraws at another zoom`,
      );
      // Seek: the player goes where it is told, within the item.
      const target = Number(seconds) / 2;
      await until(page, () => page.evaluate(() => document.querySelector("audio").readyState), (s) => s >= 1, `${what}: audio metadata`);
      await page.evaluate((t) => window.instance.player.seek(t), target);
      await until(
        page,
        () => page.evaluate(() => window.instance.player.getCurrentTime()),
        (t) => Math.abs(t - target) < 0.05,
        `${what}: seek to ${target} s`,
      );
    }
    check(errors.length === 0, "console errors: " + errors.join("; "));
  });
} finally {
  site.close();
}
