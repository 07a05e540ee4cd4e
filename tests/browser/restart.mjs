// The item view across a server restart: its WebSocket is closed by the server going away,
// connects again when the server is back, and an experience run then fills its progress bar
// from the new connection's events. The test's Rust side restarts the server between two
// files in SIGNALS_DIR: `connected` (written here) and `restarted` (written there).
//   node tests/browser/restart.mjs BASE_URL USER PASSWORD ITEM_UUID EXPERIENCE SIGNALS_DIR

import { existsSync, writeFileSync } from "node:fs";
import { login, run, until } from "./browser.mjs";

const [base, user, password, uuid, experience, signals] = process.argv.slice(2);

await run(async (page) => {
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws));
  await page.goto(base + "/");
  await login(page, user, password);
  await page.goto(`${base}/#/items/${uuid}`);
  await until(page, () => sockets.length, (n) => n > 0, "the item view opens no WebSocket");
  const first = sockets[0];
  writeFileSync(`${signals}/connected`, "");
  await until(page, () => first.isClosed(), Boolean, "the server went away and the WebSocket stayed open", 30000);
  await until(page, () => existsSync(`${signals}/restarted`), Boolean, "the server did not come back", 60000);
  await until(page, () => sockets.filter((s) => s !== first && !s.isClosed()).length, (n) => n > 0,
    "the item view did not connect again", 15000);

  await page.getByLabel("Experience to run").selectOption({ label: experience });
  await page.getByTestId("run-experience").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=task-progress]").value === 1, null, { timeout: 60000 });
});
