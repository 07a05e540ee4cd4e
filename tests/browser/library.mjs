// The library: log in, upload a file with the file picker, see it listed with its duration,
// still there after a reload; a view left while it waited for the server does not draw over
// the library; log out.
//   node tests/browser/library.mjs BASE_URL USER PASSWORD FILE SECONDS SCREENSHOT

import { check, login, run } from "./browser.mjs";

const [base, user, password, file, seconds, screenshot] = process.argv.slice(2);
const title = file.split("/").pop().replace(/\.[^.]+$/, "");

await run(async (page) => {
  await page.goto(base + "/");
  await login(page, user, password);

  await page.getByTestId("upload-input").setInputFiles(file);
  const row = page.getByTestId("item-row").filter({ hasText: title });
  await row.waitFor({ timeout: 30000 });
  const progress = await page.getByTestId("upload").locator("progress").evaluate((p) => p.value);
  check(progress === 1, `the upload's progress bar ends at ${progress}, not 1`);
  const text = await row.innerText();
  const m = Math.floor(Number(seconds) / 60);
  const duration = `${m}:${String(Math.floor(Number(seconds)) % 60).padStart(2, "0")}`;
  check(text.includes(duration), `the row "${text}" shows no duration ${duration}`);
  check(text.includes("you"), `the row "${text}" does not say it is the user's`);
  if (screenshot) await page.screenshot({ path: screenshot });

  await page.reload();
  await page.getByTestId("item-row").filter({ hasText: title }).waitFor();
  check((await page.getByTestId("item-row").count()) === 1, "one item after a reload");

  // The tasks view waits for the server (held back here by 1.5 s); the user goes back to the
  // library before it answers. The tasks view must not draw over the library when it does.
  const slow = "**/api/v1/experiences?*";
  await page.route(slow, async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await route.continue().catch(() => {}); // the left view's request was cancelled
  });
  await page.goto(`${base}/#/tasks`);
  await page.getByRole("link", { name: "Library" }).click();
  await page.waitForTimeout(2500);
  const heading = await page.locator("#view h1").allInnerTexts();
  check(heading.join() === "Library" && (await page.getByTestId("item-row").count()) === 1,
    `the library is shown after leaving a waiting view (headings: ${JSON.stringify(heading)})`);
  await page.unroute(slow);

  await page.getByTestId("logout").click();
  await page.getByTestId("login").waitFor();
  // Private items are the owner's only: logged out, the list is empty.
  await page.getByText("No items yet.").waitFor();
});
