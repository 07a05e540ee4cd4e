// An item view outlives its access token (8 s in this test's server, an hour by default): the
// token is renewed without drawing the view again, and a seek the server refuses with the old
// token in the audio's URL goes on from the seek point with a new one.
//   node tests/browser/renewal.mjs BASE_URL USER PASSWORD ITEM_UUID SECONDS TOKEN_SECONDS

import { check, drawn, login, run, until } from "./browser.mjs";

const [base, user, password, uuid, seconds, tokenSeconds] = process.argv.slice(2);

await run(async (page) => {
  let refused = 0;
  page.on("response", (r) => r.url().includes("/download/") && r.status() >= 400 && refused++);
  await page.goto(base + "/");
  await login(page, user, password);
  const loggedIn = Date.now();
  await page.goto(`${base}/#/items/${uuid}`);
  const zoomview = page.getByTestId("zoomview");
  await until(page, () => drawn(zoomview), Boolean, "the zoomed view stays blank", 10000);
  const shown = await zoomview.elementHandle();
  await page.getByTestId("play").click();
  await page.waitForFunction(() => document.querySelector("audio").currentTime > 0.5, null, { timeout: 15000 });

  // Past the token's life, zoom in: the waveform request is refused, the token renewed, and
  // the same view (the same canvas, still playing) draws the finer window.
  await page.waitForTimeout(Math.max(0, loggedIn + Number(tokenSeconds) * 1000 + 1000 - Date.now()));
  await page.getByTestId("zoom-in").click();
  await until(page, () => zoomview.evaluate((c) => Number(c.dataset.stop) - Number(c.dataset.start)),
    (span) => Math.abs(span - Number(seconds) / 2) < 0.01, "zooming in after the token expired");
  check(await shown.evaluate((c) => c.isConnected), "the view was drawn again when the token was renewed");
  check(!(await page.evaluate(() => document.querySelector("audio").paused)), "the renewal stopped the sound");

  // Past the renewed token's life too, seek far beyond what the player has read: its request
  // carries an expired token; the player goes on from there with a new one.
  await page.waitForTimeout(Number(tokenSeconds) * 1000 + 1000);
  const target = Number(seconds) * 0.8;
  const box = await page.getByTestId("overview").boundingBox();
  await page.mouse.click(box.x + box.width * 0.8, box.y + box.height / 2);
  await until(page, () => page.evaluate(() => ({ t: document.querySelector("audio").currentTime, paused: document.querySelector("audio").paused })),
    (a) => a.t > target + 1 && !a.paused, `playing on from ${target} s after the seek`, 15000);
  check(refused > 0, "no download request was refused: the test did not reach an expired token in the audio's URL");
  const alerts = (await page.locator("[role=alert]").allInnerTexts()).filter(Boolean);
  check(alerts.length === 0, `alerts: ${JSON.stringify(alerts)}`);
});
