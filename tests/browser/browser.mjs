// What every browser test shares: Debian's Chromium driven by playwright-core (from
// web/node_modules; no browser download), headless, with the flags a closed network needs.

import { createRequire } from "node:module";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export async function launch() {
  return chromium.launch({
    executablePath: process.env.TIMESIDE_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

/** Runs `test(page)` on a fresh page; a failure prints its message and exits 1. */
export async function run(test) {
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await test(page);
    if (errors.length) throw new Error("errors in the page: " + errors.join("; "));
  } catch (e) {
    console.error(e.stack || String(e));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}
