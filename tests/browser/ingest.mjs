// An item opened while its ingest waits for a worker draws itself when the ingest ends,
// without a reload, and the ingest is not shown as the user's analysis run.
//   node tests/browser/ingest.mjs BASE_URL ITEM_UUID
// Prints "waiting" once the page shows the item without its peaks; the test then starts a
// worker.

import { check, run, until } from "./browser.mjs";

const [base, uuid] = process.argv.slice(2);

await run(async (page) => {
  await page.goto(`${base}/#/items/${uuid}`);
  const overview = page.getByTestId("overview");
  await overview.waitFor();
  const alert = async () => (await page.locator("[role=alert]").allInnerTexts()).filter(Boolean).join(" ");
  await until(page, alert, (t) => t.includes("not stored yet"), "the page says the peaks are not stored yet");
  check((await overview.getAttribute("data-drawn")) !== "true", "nothing drawn before the ingest");
  console.log("waiting");
  await until(page, () => overview.getAttribute("data-drawn"), (d) => d === "true", "the overview drawn when the ingest ends", 60000);
  await until(page, alert, (t) => t === "", "the message is gone");
  // (The run controls are a logged-in user's; none here: nothing shows the ingest as a run.)
  const progress = page.getByTestId("task-progress");
  const value = (await progress.count()) ? await progress.evaluate((p) => p.value) : 0;
  check(value === 0, `the ingest is not shown as a run of the viewer's (progress ${value})`);
});
