// The library at collection size: the first page, the next pages as the end of the list comes
// into view, the file-name column, sorting by title both ways, and filtering by collection and
// ingest state.
//   node tests/browser/collection.mjs BASE_URL ITEMS
// The server holds ITEMS public items "Piece 000" ... with files piece000.wav ..., odd ones in
// collection "B", even ones in "A"; every ingest is pending but the first item's (cancelled:
// failed).

import { check, run, until } from "./browser.mjs";

const [base, total] = process.argv.slice(2);
const n = Number(total);
const rows = (page) => page.getByTestId("item-row");
const firstTitle = async (page) => (await rows(page).first().locator("td").first().innerText()).trim();

await run(async (page) => {
  await page.goto(base + "/");
  await rows(page).first().waitFor();
  check((await rows(page).count()) === 100, `the first page shows 100 rows, not ${await rows(page).count()}`);
  check((await page.getByTestId("item-count").innerText()).includes("more below"), "the count says more is below");
  // The file-name column: "Piece 042" is piece042.wav.
  const title = await firstTitle(page);
  const file = await rows(page).first().getByTestId("item-file").innerText();
  check(file === `piece${title.slice(-3)}.wav`, `the file-name column: ${title} is ${file}`);
  const newest = `Piece ${String(n - 1).padStart(3, "0")}`;

  // Scrolling to the end loads the rest.
  await page.getByTestId("load-more").scrollIntoViewIfNeeded();
  await until(page, () => rows(page).count(), (c) => c === n, `all ${n} rows after scrolling`);
  check(await page.getByTestId("load-more").isHidden(), "no more to load after the last page");

  await page.getByTestId("item-sort").selectOption("title");
  await until(page, () => firstTitle(page), (t) => t === "Piece 000", "title A–Z starts at Piece 000");
  await page.getByTestId("item-sort").selectOption("-title");
  await until(page, () => firstTitle(page), (t) => t === newest, "title Z–A starts at the last piece");

  await page.getByTestId("filter-collection").fill("B");
  const odd = Math.floor(n / 2);
  await until(page, () => page.getByTestId("item-count").innerText(), (t) => t.startsWith(`${Math.min(odd, 100)} item`),
    `collection B: ${odd} items`);
  const collections = await rows(page).evaluateAll((trs) => trs.map((tr) => tr.children[4].textContent));
  check(collections.every((c) => c === "B"), `only collection B: ${JSON.stringify(collections.slice(0, 5))}`);
  await page.getByTestId("filter-collection").fill("");

  await page.getByTestId("filter-state").selectOption("failed");
  await until(page, () => rows(page).count(), (c) => c === 1, "one failed item");
  check((await firstTitle(page)) === "Piece 000", "the cancelled ingest's item is the failed one");
  check((await rows(page).first().getByTestId("ingest-state").innerText()) === "failed", "its state reads failed");
  await page.getByTestId("filter-state").selectOption("ingesting");
  await until(page, () => page.getByTestId("item-count").innerText(), (t) => t.startsWith("100 items shown"),
    "the ingesting items, a page at a time");
  await page.getByTestId("filter-state").selectOption("ready");
  await page.getByText("No item matches.").waitFor();
});
