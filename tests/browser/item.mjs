// The item view: the overview and zoomed canvases are drawn; zooming in narrows the visible
// window and asks the server for that finer window; the spectrogram tile loads; play moves
// the audio's currentTime.
//   node tests/browser/item.mjs BASE_URL USER PASSWORD ITEM_UUID SECONDS SCREENSHOT

import { check, drawn, login, run } from "./browser.mjs";

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
  await page.waitForFunction(() => document.querySelectorAll("canvas").length === 2);
  for (const [name, canvas] of [["overview", overview], ["zoomview", zoomview]]) {
    await page.waitForFunction((c) => c.width > 0, await canvas.elementHandle());
    const deadline = Date.now() + 10000;
    while (!(await drawn(canvas))) {
      check(Date.now() < deadline, `the ${name} stays blank`);
      await page.waitForTimeout(100);
    }
  }
  const span = async () => zoomview.evaluate((c) => Number(c.dataset.stop) - Number(c.dataset.start));
  const whole = await span();
  check(Math.abs(whole - Number(seconds)) < 0.01, `the zoomed view starts on the whole item (${whole} s)`);
  const asked = windows.length;
  await page.getByTestId("zoom-in").click();
  await page.getByTestId("zoom-in").click();
  const zoomed = await span();
  check(Math.abs(zoomed - whole / 4) < 0.01, `two zoom steps show a quarter (${zoomed} s of ${whole} s)`);
  const deadline = Date.now() + 10000;
  while (!windows.slice(asked).some((w) => Math.abs(w - zoomed) < 0.01)) {
    check(Date.now() < deadline, `no waveform request for the ${zoomed} s window (asked: ${windows.join(", ")})`);
    await page.waitForTimeout(100);
  }
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
});
