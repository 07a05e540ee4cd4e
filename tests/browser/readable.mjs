// Analyses read as they mean, in the item view (see browser.rs: 20 s of clicks at 10 a second,
// 10 s of silence, 30 s of a 440 Hz sine; onsets, spectrogram, MFCC, pitch and loudness done).
//   node tests/browser/readable.mjs BASE_URL USER PASSWORD ITEM_UUID SCREENSHOT

import { check, login, run, until } from "./browser.mjs";

const [base, user, password, uuid, screenshot] = process.argv.slice(2);

await run(async (page) => {
  await page.goto(base + "/");
  await login(page, user, password);
  await page.goto(`${base}/#/items/${uuid}`);
  const picker = page.getByLabel("Result to show as a track");
  await page.waitForFunction(() => [...document.querySelectorAll("option")].some((o) => o.textContent === "pitch"), null, { timeout: 15000 });
  // Nobody arranged this item's tracks: it opens with a default set from its analyses.
  const shownIds = () => page.locator("[data-testid=analysis-track]").evaluateAll((all) => all.map((c) => c.dataset.resultId));
  const defaults = await until(page, shownIds, (ids) => ids.length === 4, "the default tracks are shown");
  check(defaults.join() === "onsets,pitch,loudness.short_term,spectrogram", `default tracks: ${defaults}`);
  check(await page.getByTestId("tracks").evaluate((t) => t.dataset.layout) === "default", "the layout is the default");
  for (const processor of ["onsets", "spectrogram", "mfcc", "pitch", "loudness"]) {
    await picker.selectOption({ label: processor });
    await page.getByRole("button", { name: "Add track" }).click();
  }
  const track = (id) => page.locator(`[data-testid=analysis-track][data-result-id="${id}"]`);
  const box = (id) => page.locator(".track-box", { has: track(id) });
  for (const id of ["onsets", "spectrogram", "mfcc", "pitch"]) await track(id).waitFor();

  // Onsets over the whole minute: 200 clicks in 20 s would overlap as markers; a density strip.
  const onsets = track("onsets");
  const whole = await onsets.evaluate((c) => [c.dataset.mode, Number(c.dataset.markers)]);
  check(whole[0] === "density", `onsets over the whole item: ${whole}`);
  check(whole[1] >= 195, `the clicks' onsets are in the window: ${whole[1]}`);

  // The spectrogram in dB, with a legend whose floor is 80 dB under its ceiling; moving the
  // floor changes the picture.
  const legend = box("spectrogram").getByTestId("heat-legend");
  const [scale, floor, ceiling] = await legend.evaluate((l) => [l.dataset.scale, Number(l.dataset.floor), Number(l.dataset.ceiling)]);
  check(scale === "db" && ceiling - floor === 80, `the spectrogram's scale: ${scale} ${floor}..${ceiling}`);
  check((await box("spectrogram").getByTestId("heat-legend").innerText()).includes("dB"), "the legend says dB");
  const pixels = (id) => track(id).evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
    return sum;
  });
  const before = await pixels("spectrogram");
  await box("spectrogram").getByTestId("heat-floor").fill(String(ceiling - 20));
  await box("spectrogram").getByTestId("heat-floor").dispatchEvent("change");
  const after = await until(page, () => pixels("spectrogram"), (p) => p !== before, "a higher floor redraws the heat map");
  check(after < before, `a higher floor darkens the quiet parts (${before} → ${after})`);
  check(await legend.evaluate((l) => Number(l.dataset.floor)) === ceiling - 20, "the legend follows the floor");
  // MFCC: each coefficient on its own scale.
  check(await box("mfcc").getByTestId("heat-legend").evaluate((l) => l.dataset.scale) === "row", "MFCC rows are normalised");

  // Pitch in Hz on its axis; the silence (20..30 s of 60) is a gap, the sine is drawn.
  const pitch = track("pitch");
  const axis = await pitch.evaluate((c) => c.dataset.axis);
  check(axis.endsWith(" Hz"), `pitch's axis says Hz: ${axis}`);
  const columnDrawn = (t) => pitch.evaluate((c, t) => {
    const x = Math.floor((t / 60) * c.width);
    const d = c.getContext("2d").getImageData(x, 0, 1, c.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
    return false;
  }, t);
  check(!(await columnDrawn(25)), "nothing is drawn for the silence's unvoiced frames");
  check(await columnDrawn(45), "the 440 Hz sine is drawn");

  // Loudness's globals each say their unit.
  const globals = await page.locator(".analyses dl.globals").innerText();
  for (const [id, unit] of [["loudness.integrated", "LUFS"], ["loudness.range", "LU"], ["loudness.true_peak", "dBTP"], ["loudness.sample_peak", "dBFS"]]) {
    check(new RegExp(`${id.replace(".", "\\.")}\\s+-?[\\d.]+ ${unit}\\b`).test(globals), `${id} in ${unit}: ${globals}`);
  }

  // The spectrogram pane: a frequency axis, a dB legend, a playhead.
  const axisLabels = await page.getByTestId("spectrogram-axis").innerText();
  check(axisLabels.includes("1 kHz") && axisLabels.includes("100 Hz"), `the frequency axis: ${axisLabels}`);
  check((await page.getByTestId("spectrogram-legend").innerText()).includes("dBFS"), "the spectrogram's dB legend");
  check(await page.getByTestId("spectrogram-playhead").isVisible(), "the playhead is over the spectrogram");

  // Zoomed to about a second of the clicks: exact markers, about ten.
  for (let i = 0; i < 6; i++) await page.getByTestId("zoom-in").click();
  await page.keyboard.press("Home");
  await page.getByTestId("zoom-in").click();
  const zoomview = page.getByTestId("zoomview");
  const view = await zoomview.evaluate((z) => [Number(z.dataset.start), Number(z.dataset.stop)]);
  const close = await onsets.evaluate((c) => [c.dataset.mode, Number(c.dataset.markers)]);
  check(close[0] === "markers", `onsets zoomed to ${view}: ${close}`);
  // The spectrogram shows this window's tile, never the last one stretched.
  await until(page, () => page.getByTestId("spectrogram").evaluate((i) => [i.style.visibility, i.dataset.start]),
    ([v, s]) => v === "visible" && Number(s) === view[0], "the spectrogram shows the new window's tile", 20000);

  // Vertical zoom, then samples as stems when zoomed to a few pixels a sample.
  await page.getByTestId("amp-in").click();
  check(await zoomview.evaluate((z) => z.dataset.amp) === "2", "the waveform is twice as tall");
  for (let i = 0; i < 14; i++) await page.getByTestId("zoom-in").click();
  await until(page, () => zoomview.evaluate((z) => z.dataset.stems), (s) => s === "true", "samples are drawn as stems");
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  // The tracks added are the user's layout, kept by the server: the item opens with them.
  await page.reload();
  const kept = await until(page, shownIds, (ids) => ids.includes("mfcc"), "the user's layout comes back", 15000);
  check(kept.slice(0, 4).join() === "onsets,pitch,loudness.short_term,spectrogram", `the layout keeps its order: ${kept}`);
  check(await page.getByTestId("tracks").evaluate((t) => t.dataset.layout) === "own", "the layout is the user's");
});
