// The tasks view of a task over two items, one of which failed: it reads "done, 1 of 2
// failed" with a full bar, links the good item's results, names the failed item with its
// error, says how long it ran and downloads its results as a zip. A running task's run time
// ticks, and its Cancel button cancels it.
//   node tests/browser/tasks.mjs BASE_URL USER PASSWORD EXPERIENCE FAILED_FILE_NAME RUNNING_EXPERIENCE

import { check, login, run, until } from "./browser.mjs";

const [base, user, password, experience, failedFile, runningExperience] = process.argv.slice(2);

await run(async (page) => {
  await page.goto(base + "/");
  await login(page, user, password);
  await page.goto(`${base}/#/tasks`);
  const row = page.getByTestId("task-row").filter({ hasText: experience });
  await row.waitFor();
  const status = await row.getByTestId("task-status").innerText();
  check(status === "done, 1 of 2 failed", `the task's status reads "${status}"`);
  check((await row.getByTestId("task-progress").evaluate((p) => p.value)) === 1, "the task's bar is full");
  const failed = row.getByTestId("task-failed-item");
  check((await failed.count()) === 1, "one failed item is named");
  const text = await failed.innerText();
  check(text.includes(failedFile), `the failed item says why: "${text}"`);
  check((await row.getByRole("link", { name: "level" }).count()) >= 1, "the good item's results are linked");
  const took = await row.getByTestId("task-run-time").innerText();
  check(/^\d+\.\d s$/.test(took), `the task's run time reads "${took}"`);
  check((await row.getByTestId("task-cancel").count()) === 0, "an ended task has no Cancel button");
  // Its results as one zip, from the server's dataset export.
  const [archive] = await Promise.all([page.waitForEvent("download"), row.getByTestId("task-export").click()]);
  const fs = await import("node:fs");
  const bytes = fs.readFileSync(await archive.path());
  check(bytes.subarray(0, 4).toString("latin1") === "PK\x03\x04", "the download is a zip");
  check(bytes.includes(Buffer.from("index.json")), "the zip holds its index");

  // The running task: its time ticks; Cancel ends it.
  const running = page.getByTestId("task-row").filter({ hasText: runningExperience });
  const first = await running.getByTestId("task-run-time").innerText();
  await until(page, () => running.getByTestId("task-run-time").innerText(), (t) => t !== first, "the run time ticks", 5000);
  await running.getByTestId("task-cancel").click();
  await until(page, () => page.getByTestId("task-row").filter({ hasText: runningExperience }).getByTestId("task-status").innerText(),
    (t) => t === "cancelled", "the cancelled task says so", 10000);
});
