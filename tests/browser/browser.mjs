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

/** Runs `test(page, browser)` on a fresh page; a failure prints its message and exits 1. */
export async function run(test) {
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // What the server's Content-Security-Policy blocked would fail silently otherwise.
  page.on("console", (m) => m.type() === "error" && m.text().includes("Content Security Policy") && errors.push(m.text()));
  // Requests not answered yet, to tell a stalled page from a slow one when a step times out.
  const pending = new Map();
  page.on("request", (r) => pending.set(r, Date.now()));
  for (const end of ["requestfinished", "requestfailed"]) page.on(end, (r) => pending.delete(r));
  try {
    await test(page, browser);
    if (errors.length) throw new Error("errors in the page: " + errors.join("; "));
  } catch (e) {
    console.error(e.stack || String(e));
    // What the page said: its alerts and where it was.
    const alerts = await page.locator("[role=alert]").allInnerTexts().catch(() => []);
    console.error(`page ${page.url()}; alerts: ${JSON.stringify(alerts.filter(Boolean))}`);
    for (const [r, since] of pending) console.error(`unanswered for ${Date.now() - since} ms: ${r.method()} ${r.url()}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * Reads `read()` every 100 ms until `ok(value)` and resolves with that value; after `ms`, fails
 * with `what` and the last value read.
 */
export async function until(page, read, ok, what, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    check(Date.now() < deadline, `${what} (last: ${JSON.stringify(value)})`);
    await page.waitForTimeout(100);
  }
}

/** Logs in through the session bar's form. */
export async function login(page, user, password) {
  const form = page.getByTestId("login");
  await form.getByLabel("User name").fill(user);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("logout").waitFor();
}

/** Whether a canvas has any drawn (non-transparent) pixel. */
export function drawn(canvas) {
  return canvas.evaluate((c) => {
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) return true;
    return false;
  });
}
