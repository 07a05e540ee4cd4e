// An item the browser cannot play as uploaded (AIFF, WMA) plays through its MP3 transcode: the
// player's source is `download/mp3`, it plays, a click three quarters along the overview seeks
// there, and a media fragment plays its span.
//   node tests/browser/transcoded.mjs BASE_URL USER PASSWORD ITEM_UUID SECONDS

import { check, login, run, until } from "./browser.mjs";

const [base, user, password, uuid, seconds] = process.argv.slice(2);

await run(async (page) => {
  await page.goto(base + "/");
  await login(page, user, password);
  await page.goto(`${base}/#/items/${uuid}`);
  const audio = page.locator("audio");
  const src = () => audio.evaluate((a) => new URL(a.src).pathname);
  await until(page, src, (s) => s.endsWith(`/items/${uuid}/download/mp3`), "AIFF plays through its MP3 transcode");
  await page.getByTestId("play").click();
  await until(page, () => audio.evaluate((a) => a.currentTime), (t) => t > 0.3, "the transcode plays", 20000);

  // A click three quarters along the overview: playback goes on from there.
  const overview = page.getByTestId("overview");
  const box = await overview.boundingBox();
  await overview.click({ position: { x: box.width * 0.75, y: box.height / 2 } });
  const at = Number(seconds) * 0.75;
  await until(page, () => audio.evaluate((a) => [a.paused, a.currentTime]), ([paused, t]) => !paused && t > at && t < at + 5,
    `it plays on from ${at} s`, 15000);
  await page.keyboard.press("Space");

  // A span of the item: played from its start, paused at its end.
  await page.goto(`${base}/items/${uuid}#t=10,11`);
  await until(page, () => audio.evaluate((a) => [a.paused, a.currentTime]), ([paused, t]) => paused && t >= 11 && t < 11.5,
    "the span plays and pauses at its end", 20000);
});
