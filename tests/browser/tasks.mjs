// The tasks view of a task over two items, one of which failed: it reads "done, 1 of 2
// failed" with a full bar, links the good item's results, and names the failed item with
// its error.
//   node tests/browser/tasks.mjs BASE_URL USER PASSWORD EXPERIENCE FAILED_FILE_NAME

import { check, login, run } from "./browser.mjs";

const [base, user, password, experience, failedFile] = process.argv.slice(2);

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
});
