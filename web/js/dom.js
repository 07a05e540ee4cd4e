// A small element builder: h("button", { onclick, "data-testid": "play" }, "Play").

export function h(tag, attributes = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null && child !== false) el.append(child);
  }
  return el;
}

/** 3725.2 → "1:02:05", 65 → "1:05". */
export function clock(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  const s = Math.floor(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** Sizes a canvas to its box in device pixels: { width, height, ratio }. */
export function fit(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  return { width, height, ratio };
}

/** Runs `fn` once the view `signal` belongs to is left (at once if it already was). */
export function whenLeft(signal, fn) {
  if (signal.aborted) fn();
  else signal.addEventListener("abort", fn, { once: true });
}

/**
 * The view's keys while it is shown: `keys[e.key]()` for a key pressed outside a form field
 * (where keys are typed); the handler goes when the view is left (`signal`).
 */
export function viewKeys(signal, keys) {
  const onKey = (e) => {
    const action = keys[e.key];
    if (!action || e.target.closest?.("input, select, textarea")) return;
    e.preventDefault();
    action();
  };
  document.addEventListener("keydown", onKey);
  whenLeft(signal, () => document.removeEventListener("keydown", onKey));
}
