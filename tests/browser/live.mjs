// The live views: the channel list, a -20 dBFS 1 kHz test channel read by the meters (peak
// -20 dBFS, RMS -23.01 dBFS, loudness -20 LUFS, each within 0.5 dB), and the demo channel:
// its meters move, its timeline gets onsets, and played, its analysis follows what is heard
// (behind the live edge by what the player buffered, and moving on).
//   node tests/browser/live.mjs BASE_URL TONE_CHANNEL DEMO_CHANNEL SCREENSHOT

import { check, drawn, run, until } from "./browser.mjs";

const [base, tone, demo, screenshot] = process.argv.slice(2);

const numbers = (text) => (text ? text.split(",").map(Number) : []);

await run(async (page) => {
  await page.goto(`${base}/#/live`);
  const rows = page.getByTestId("live-channel");
  await until(page, () => rows.count(), (n) => n === 2, "the list shows both channels");
  const toneRow = page.locator(`[data-testid=live-channel][data-id="${tone}"]`);
  await until(page, () => toneRow.innerText(), (t) => t.includes("on air"), "the test channel is on air");
  await until(page, () => toneRow.locator("meter").evaluate((m) => m.value), (v) => Math.abs(v + 20) <= 0.5,
    "the list's level meter reads the test channel's -20 dBFS");

  await toneRow.getByRole("link").first().click();
  await page.waitForURL(`**/#/live/${tone}`);
  const peakMeter = page.getByTestId("meter-peak");
  const loudness = page.getByTestId("meter-loudness");
  const read = async () => ({
    peak: numbers(await peakMeter.getAttribute("data-peak-dbfs")),
    rms: numbers(await peakMeter.getAttribute("data-rms-dbfs")),
    momentary: Number(await loudness.getAttribute("data-momentary-lufs")),
    integrated: Number(await loudness.getAttribute("data-integrated-lufs")),
  });
  // Momentary loudness needs 400 ms of audio, integrated a first gated block.
  const near = (values, want) => values.length > 0 && values.every((v) => Math.abs(v - want) <= 0.5);
  const level = await until(page, read,
    (m) => near(m.peak, -20) && near(m.rms, -23.01) && near([m.momentary], -20) && near([m.integrated], -20),
    "the meters read the -20 dBFS sine: peak -20 dBFS, RMS -23.01 dBFS, -20 LUFS");
  check(level.peak.length === 2, `one peak per audio channel (${level.peak.length})`);
  await until(page, () => drawn(page.getByTestId("spectrum")), Boolean, "the spectrum is drawn");
  // The text says it too, for people.
  const text = await peakMeter.innerText();
  check(/peak -(19\.[5-9]|20\.[0-5]) dBFS/.test(text), `the peak meter's readout: ${text}`);

  await page.goto(`${base}/#/live/${demo}`);
  const first = await until(page, read, (m) => m.peak.length === 2, "the demo's meters get levels");
  await until(page, read, (m) => m.peak.join() !== first.peak.join() && m.rms.join() !== first.rms.join(),
    "the demo's meters change while it plays");
  const timeline = page.getByTestId("event-timeline");
  await until(page, () => timeline.getAttribute("data-marks").then(Number), (n) => n > 0, "the demo's onsets reach the timeline");

  const view = page.getByTestId("live-view");
  const times = async () => ({
    shown: Number(await view.getAttribute("data-stream-time")),
    edge: Number(await view.getAttribute("data-live-edge")),
  });
  await page.getByTestId("play").click();
  await page.waitForFunction(() => document.querySelector("audio").currentTime > 1, null, { timeout: 15000 });
  // Played, the view shows what the player has reached: behind the newest events by what the
  // player buffered, and moving on with the audio.
  const audioTime = () => page.evaluate(() => document.querySelector("audio").currentTime);
  const before = { ...(await times()), audio: await audioTime() };
  check(before.edge - before.shown > 0.1, `the view waits for the audio to reach its events (${JSON.stringify(before)})`);
  await page.waitForTimeout(2000);
  const after = { ...(await times()), audio: await audioTime() };
  const moved = after.shown - before.shown;
  const played = after.audio - before.audio;
  check(Math.abs(moved - played) < 0.3, `the shown stream time follows the audio (${moved.toFixed(2)} s while it played ${played.toFixed(2)} s)`);
  if (screenshot) await page.screenshot({ path: screenshot });

  // The Opus mount plays too (the choice restarts the stream from the live edge).
  await page.getByLabel("Stream format").selectOption({ label: "OPUS stream" });
  await page.waitForFunction(() => {
    const audio = document.querySelector("audio");
    return audio.src.includes(".opus") && audio.currentTime > 0.5;
  }, null, { timeout: 15000 });
});
