// Annotations with the mouse: a new track, a region dragged over a quarter of the item and
// labelled; stored through the API (checked there), there after a reload, and seen from
// another browser. Then with keys: select, move, resize, add a point, delete it.
//   node tests/browser/annotations.mjs BASE_URL USER PASSWORD ITEM_UUID SECONDS SCREENSHOT

import { readFileSync } from "node:fs";
import { check, login, run, until } from "./browser.mjs";

const [base, user, password, uuid, seconds, screenshot] = process.argv.slice(2);
const duration = Number(seconds);

/** The item's annotation tracks as the API gives them, with the page's token. */
function stored(page) {
  return page.evaluate(async (item) => {
    const { access } = JSON.parse(localStorage.getItem("timeside.session"));
    const r = await fetch(`/api/v1/annotation_tracks?item=${item}`, { headers: { Authorization: "Bearer " + access } });
    return r.json();
  }, uuid);
}

await run(async (page, browser) => {
  await page.goto(base + "/");
  await login(page, user, password);
  await page.goto(`${base}/#/items/${uuid}`);
  await page.getByTestId("new-annotation-track").click();
  const track = page.getByTestId("annotation-track");
  await track.waitFor();
  await track.scrollIntoViewIfNeeded();
  const box = await track.boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.25, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.375, y, { steps: 5 });
  await page.mouse.move(box.x + box.width * 0.5, y, { steps: 5 });
  await page.mouse.up();
  const label = page.getByTestId("annotation-label");
  await label.waitFor();
  await label.fill("chorus");
  await label.press("Tab");
  const first = async () => (await stored(page)).results[0]?.annotations ?? [];
  const [annotation] = await until(page, first, ([a]) => a?.title === "chorus", "no labelled annotation stored", 10000);
  const near = (a, b) => Math.abs(a - b) < duration / 100;
  check(near(annotation.start_time, duration * 0.25) && near(annotation.stop_time, duration * 0.5),
    `the region spans ${annotation.start_time}..${annotation.stop_time} s, not a quarter to a half of ${duration} s`);
  if (screenshot) {
    await page.waitForFunction(() => {
      const img = document.querySelector("[data-testid=spectrogram]");
      return img.complete && img.naturalWidth > 0;
    }, null, { timeout: 15000 });
    await page.screenshot({ path: screenshot, fullPage: true });
  }

  // Exported with the item's results: the WebVTT link downloads a cue with the label.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "WebVTT" }).click()]);
  const vtt = readFileSync(await download.path(), "utf8");
  check(vtt.startsWith("WEBVTT") && vtt.includes("chorus"), `the WebVTT export: ${vtt.slice(0, 300)}`);

  await page.reload();
  await page.waitForFunction(() => document.querySelector("[data-testid=annotation-track]")?.dataset.count === "1");

  // Keys, on the whole item (a step is a hundredth of it): select the region, move it 5 steps
  // right, pull its end 10 steps left; then a point at the playhead (0 s), deleted again.
  await track.focus();
  await track.press("ArrowRight");
  check(await track.getAttribute("data-selected") === annotation.uuid, "ArrowRight selects the region");
  for (let i = 0; i < 5; i++) await track.press("Alt+ArrowRight");
  for (let i = 0; i < 10; i++) await track.press("Shift+ArrowLeft");
  const step = duration / 100;
  const moved = await until(page, first, ([a]) => a && near(a.start_time, annotation.start_time + 5 * step) &&
    near(a.stop_time, annotation.stop_time + 5 * step - 10 * step), "keys moved and resized the region");
  check(moved[0].title === "chorus", "its label stays");
  await track.press("m");
  await until(page, first, (list) => list.length === 2 && list.some((a) => a.start_time === 0 && a.stop_time === 0), "M adds a point at the playhead");
  await page.keyboard.press("Escape");
  await track.press("ArrowLeft");
  await track.press("ArrowLeft");
  await track.press("Delete");
  await until(page, first, (list) => list.length === 1 && list[0].title === "chorus", "Delete removes the selected point");

  // Another browser (no shared storage), the same user: the annotation is there.
  const other = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const second = await other.newPage();
  await second.goto(base + "/");
  await login(second, user, password);
  await second.goto(`${base}/#/items/${uuid}`);
  await second.waitForFunction(() => document.querySelector("[data-testid=annotation-track]")?.dataset.count === "1");
  await other.close();
});
