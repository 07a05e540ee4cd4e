// Chromium's <audio> element plays each live mount given, joining the running stream: each
// must reach 1.5 s of playback without an error. Prints how far each got, as JSON.
// Usage: node mounts.mjs <server base> <url> [<url> ...] (the page is the server's own, so the
// element's requests are a page's, not about:blank's)

import { run, check, until } from "./browser.mjs";

const [base, ...urls] = process.argv.slice(2);

await run(async (page) => {
  await page.goto(`${base}/api/v1/health`);
  const played = {};
  for (const url of urls) {
    await page.evaluate((src) => {
      const audio = new Audio();
      audio.muted = true;
      audio.src = src;
      window.player = audio;
      window.failure = null;
      // Only this element's failures count: emptying the last one's src fires an error there.
      const fail = (why) => window.player === audio && (window.failure = why);
      audio.onerror = () => fail(`error ${audio.error && audio.error.code}: ${audio.error && audio.error.message}`);
      audio.play().catch((e) => fail(String(e)));
    }, url);
    const state = () => page.evaluate(() => ({ time: window.player.currentTime, failure: window.failure }));
    const reached = await until(page, state, (s) => s.time > 1.5 || s.failure, `${url} plays`, 20000);
    check(!reached.failure, `${url}: ${reached.failure}`);
    played[url] = reached.time;
    await page.evaluate(() => {
      const audio = window.player;
      audio.onerror = null;
      audio.pause();
      audio.removeAttribute("src");
      audio.load();
    });
  }
  console.log(JSON.stringify(played));
});
