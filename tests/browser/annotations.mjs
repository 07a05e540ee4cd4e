// Annotations with the mouse: a new track, a region dragged over a quarter of the item and
// labelled; stored through the API (checked there), there after a reload, and seen from
// another browser.
//   node tests/browser/annotations.mjs BASE_URL USER PASSWORD ITEM_UUID SECONDS SCREENSHOT

import { check, login, run } from "./browser.mjs";

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
  let annotation = null;
  const deadline = Date.now() + 10000;
  while (!annotation || annotation.title !== "chorus") {
    check(Date.now() < deadline, `no labelled annotation stored: ${JSON.stringify(annotation)}`);
    await page.waitForTimeout(100);
    const tracks = await stored(page);
    annotation = tracks.results[0] && tracks.results[0].annotations[0];
  }
  const near = (a, b) => Math.abs(a - b) < duration / 100;
  check(near(annotation.start_time, duration * 0.25) && near(annotation.stop_time, duration * 0.5),
    `the region spans ${annotation.start_time}..${annotation.stop_time} s, not a quarter to a half of ${duration} s`);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  await page.reload();
  await page.waitForFunction(() => document.querySelector("[data-testid=annotation-track]")?.dataset.count === "1");

  // Another browser (no shared storage), the same user: the annotation is there.
  const other = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const second = await other.newPage();
  await second.goto(base + "/");
  await login(second, user, password);
  await second.goto(`${base}/#/items/${uuid}`);
  await second.waitForFunction(() => document.querySelector("[data-testid=annotation-track]")?.dataset.count === "1");
  await other.close();
});
