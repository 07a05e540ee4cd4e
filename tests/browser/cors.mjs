// Chromium on pages of two other origins calling the API: anonymous reads of public data work
// from any origin; a write with a bearer token (a CORS preflight) works only from the origin
// the server trusts (`server.cors_origins`).
// Usage: node cors.mjs <server base> <trusted port> <other port> <public item uuid> <token>

import http from "node:http";
import { run, check } from "./browser.mjs";

const [base, trustedPort, otherPort, uuid, token] = process.argv.slice(2);
const page = "<!doctype html><meta charset=utf-8><title>another origin</title>";
const sites = [trustedPort, otherPort].map((port) => {
  const site = http.createServer((req, res) => res.writeHead(200, { "content-type": "text/html" }).end(page));
  return new Promise((ok) => site.listen(Number(port), "127.0.0.1", () => ok(site)));
});
const servers = await Promise.all(sites);

/** What a page's fetch gets: the status, or the error the browser gives the page. */
function attempt(page, request) {
  return page.evaluate(async ({ url, init }) => {
    try {
      const r = await fetch(url, init);
      return { status: r.status, etag: r.headers.get("etag") };
    } catch (e) {
      return { error: String(e) };
    }
  }, request);
}

try {
  await run(async (page) => {
    const read = { url: `${base}/api/v1/items/${uuid}/peaks.json`, init: {} };
    const write = {
      url: `${base}/api/v1/annotation_tracks`,
      init: {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ item: uuid, title: "from another origin" }),
      },
    };
    for (const [port, trusted] of [[trustedPort, true], [otherPort, false]]) {
      await page.goto(`http://127.0.0.1:${port}/`);
      const r = await attempt(page, read);
      check(r.status === 200 && r.etag, `:${port} anonymous read: ${JSON.stringify(r)}`);
      const w = await attempt(page, write);
      if (trusted) check(w.status === 201, `:${port} (trusted) write: ${JSON.stringify(w)}`);
      else check(w.error && w.error.includes("Failed to fetch"), `:${port} (not trusted) write went through: ${JSON.stringify(w)}`);
      console.log(`:${port} read ${JSON.stringify(r)} write ${JSON.stringify(w)}`);
    }
  });
} finally {
  for (const s of servers) s.close();
}
