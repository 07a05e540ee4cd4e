// An item the browser cannot play as uploaded (AIFF, WMA) plays through a transcode streamed as
// it is made: the player's source is the MP3 stream from the start, it plays, and a seek starts
// the stream again from there (position, then sound). A media fragment plays its span too.
//   node tests/browser/streamed.mjs BASE_URL USER PASSWORD ITEM_UUID SECONDS

import { check, login, run, until } from "./browser.mjs";

const [base, user, password, uuid, seconds] = process.argv.slice(2);

await run(async (page) => {
  await page.goto(base + "/");
  await login(page, user, password);
  await page.goto(`${base}/#/items/${uuid}`);
  const audio = page.locator("audio");
  await until(page, () => audio.evaluate((a) => a.dataset.streamed), (s) => s === "true", "AIFF is streamed");
  const src = () => audio.evaluate((a) => new URL(a.src).pathname + new URL(a.src).search);
  check(/\/stream\.mp3\?start=0\.000/.test(await src()), `the source is the stream from the start: ${await src()}`);
  await page.getByTestId("play").click();
  await until(page, () => audio.evaluate((a) => a.currentTime), (t) => t > 0.3, "the stream plays", 15000);

  // A click three quarters along the overview: the stream starts again there and plays on.
  const overview = page.getByTestId("overview");
  const box = await overview.boundingBox();
  await overview.click({ position: { x: box.width * 0.75, y: box.height / 2 } });
  const at = Number(seconds) * 0.75;
  const moved = await until(page, src, (s) => /start=(\d+\.\d+)/.test(s) && Math.abs(Number(s.match(/start=(\d+\.\d+)/)[1]) - at) < 1,
    `the stream starts again at ${at} s`);
  await until(page, () => audio.evaluate((a) => [a.paused, a.currentTime]), ([paused, t]) => !paused && t > 0.3,
    `it plays on from there (${moved})`, 15000);
  const position = await page.locator(".toolbar .num").first().innerText();
  check(position.startsWith(`0:${String(Math.floor(at)).padStart(2, "0")}`) || position.startsWith(`0:${Math.floor(at) + 1}`),
    `the position says the item's time: ${position}`);
  await page.keyboard.press("Space");

  // A span of the streamed item: played from its start, paused at its end.
  await page.goto(`${base}/items/${uuid}#t=10,11`);
  await until(page, src, (s) => s.includes("start=10.000"), "the span's stream starts at 10 s");
  await until(page, () => audio.evaluate((a) => a.paused && a.currentTime > 0.9), Boolean, "the span plays and pauses at its end", 20000);
});
