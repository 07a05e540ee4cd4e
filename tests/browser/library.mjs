// The library: log in, upload a file with the file picker, see it listed with its duration,
// still there after a reload; log out.
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

  await page.getByTestId("logout").click();
  await page.getByTestId("login").waitFor();
  // Private items are the owner's only: logged out, the list is empty.
  await page.getByText("No items yet.").waitFor();
});
