// Analyses in the item view: run an experience from the page and watch its progress bar reach
// 100 % from the WebSocket; its onsets appear in the result list without a reload, and as a
// track they show one marker per click of the item. Then the tasks view lists the task.
//   node tests/browser/analysis.mjs BASE_URL USER PASSWORD ITEM_UUID EXPERIENCE CLICKS SCREENSHOT

import { check, login, run } from "./browser.mjs";

const [base, user, password, uuid, experience, clicks, screenshot] = process.argv.slice(2);

await run(async (page) => {
  await page.goto(base + "/");
  await login(page, user, password);
  await page.goto(`${base}/#/items/${uuid}`);
  await page.getByLabel("Experience to run").selectOption({ label: experience });
  const progress = page.getByTestId("task-progress");
  check((await progress.evaluate((p) => p.value)) === 0, "the progress bar starts empty");
  await page.getByTestId("run-experience").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=task-progress]").value === 1, null, { timeout: 60000 });
  // The new results are listed without a reload.
  const picker = page.getByLabel("Result to show as a track");
  await page.waitForFunction(() => [...document.querySelectorAll("option")].some((o) => o.textContent === "onsets"), null, { timeout: 10000 });
  await picker.selectOption({ label: "onsets" });
  await page.getByRole("button", { name: "Add track" }).click();
  const track = page.locator('[data-testid=analysis-track][data-result-id=onsets]');
  await track.waitFor();
  const markers = await track.evaluate((c) => Number(c.dataset.markers));
  check(markers === Number(clicks), `the onsets track shows ${markers} markers for ${clicks} clicks`);
  // The readout names the nearest event under the pointer.
  const box = await track.boundingBox();
  await track.hover({ position: { x: box.width * (0.5 / 6), y: box.height / 2 } });
  const output = page.locator(".track-box", { has: track }).locator("output");
  await page.waitForFunction((o) => o.textContent !== "", await output.elementHandle(), { timeout: 5000 }).catch(() => {});
  const text = await output.innerText();
  check(/event at 0\.5/.test(text), `the readout under the first click says "${text}"`);
  // A framewise track (the onset detection function) draws a curve.
  await picker.selectOption({ label: "onset_detection_function" });
  await page.getByRole("button", { name: "Add track" }).click();
  await page.locator('[data-testid=analysis-track][data-result-id=onset_detection_function]').waitFor();
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  // The tasks view lists the task, done, with its results.
  await page.goto(`${base}/#/tasks`);
  const row = page.getByTestId("task-row").filter({ hasText: experience });
  await row.waitFor();
  const summary = await row.innerText();
  check(summary.includes("done") && summary.includes("onsets") && summary.includes("clicks"), `the task's row says "${summary}"`);
  check((await row.getByTestId("task-progress").evaluate((p) => p.value)) === 1, "the task's bar is full");
  if (screenshot) await page.screenshot({ path: screenshot.replace(/analysis\.png$/, "tasks.png") });
});
