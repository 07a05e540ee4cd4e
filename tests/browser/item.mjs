// The item view: the overview and zoomed canvases are drawn; zooming in narrows the visible
// window and asks the server for that finer window; the spectrogram tile loads; play moves
// the audio's currentTime. Then every view on a phone-sized screen: nothing wider than it.
//   node tests/browser/item.mjs BASE_URL USER PASSWORD ITEM_UUID SECONDS SCREENSHOT

import { check, drawn, login, run, until } from "./browser.mjs";

const [base, user, password, uuid, seconds, screenshot] = process.argv.slice(2);

await run(async (page) => {
  const windows = [];
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.pathname.endsWith("/waveform")) windows.push(Number(url.searchParams.get("stop")) - Number(url.searchParams.get("start")));
  });
  await page.goto(base + "/");
  await login(page, user, password);
  await page.goto(`${base}/#/items/${uuid}`);
  const overview = page.getByTestId("overview");
  const zoomview = page.getByTestId("zoomview");
  await page.waitForFunction(() => document.querySelector("[data-testid=overview]") && document.querySelector("[data-testid=zoomview]"));
  for (const [name, canvas] of [["overview", overview], ["zoomview", zoomview]]) {
    await page.waitForFunction((c) => c.width > 0, await canvas.elementHandle());
    await until(page, () => drawn(canvas), Boolean, `the ${name} stays blank`, 10000);
  }
  // The peaks pyramid and coarse spectrogram stored at ingest are the view's data, not tracks.
  const offered = await until(page, () => page.getByLabel("Result to show as a track").locator("option").allInnerTexts(),
    (o) => o.length > 0, "the result picker stays empty");
  check(offered.join() === "no analysis results yet", `results offered as tracks before any analysis: ${offered}`);
  const span = async () => zoomview.evaluate((c) => Number(c.dataset.stop) - Number(c.dataset.start));
  const whole = await span();
  check(Math.abs(whole - Number(seconds)) < 0.01, `the zoomed view starts on the whole item (${whole} s)`);
  const asked = windows.length;
  await page.getByTestId("zoom-in").click();
  await page.getByTestId("zoom-in").click();
  const zoomed = await span();
  check(Math.abs(zoomed - whole / 4) < 0.01, `two zoom steps show a quarter (${zoomed} s of ${whole} s)`);
  await until(page, () => windows.slice(asked), (asked) => asked.some((w) => Math.abs(w - zoomed) < 0.01),
    `no waveform request for the ${zoomed} s window`, 10000);
  await page.waitForFunction(() => {
    const img = document.querySelector("[data-testid=spectrogram]");
    return img.complete && img.naturalWidth > 0 && img.src.includes("spectrogram.png");
  }, null, { timeout: 15000 });

  await page.getByTestId("play").click();
  await page.waitForFunction(() => document.querySelector("audio").currentTime > 0.5, null, { timeout: 15000 });
  if (screenshot) await page.screenshot({ path: screenshot });
  // Space pauses.
  await page.keyboard.press("Space");
  await page.waitForFunction(() => document.querySelector("audio").paused, null, { timeout: 5000 });

  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, ready] of [["#/", "item-row"], [`#/items/${uuid}`, "zoomview"], ["#/tasks", null], ["#/live", null]]) {
    await page.goto(`${base}/${hash}`);
    await page.waitForLoadState("networkidle");
    if (ready) await page.getByTestId(ready).first().waitFor();
    const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
    check(scroll <= width, `${hash} is ${scroll} px wide on a ${width} px screen`);
  }
  await page.getByRole("link", { name: "Library" }).click();
  await page.getByTestId("item-row").first().getByRole("link").first().click();
  await page.getByTestId("zoomview").waitFor();
  const play = await page.getByTestId("play").boundingBox();
  check(play && play.x >= 0 && play.x + play.width <= 390, `the play button is on a phone's screen: ${JSON.stringify(play)}`);
});
