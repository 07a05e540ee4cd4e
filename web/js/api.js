// The REST API as the player uses it: JSON requests with the logged-in user's token (kept in
// localStorage, renewed with the refresh token when it expires), and uploads with progress.
//
// Logging in or out fires `timeside:session` (the view is drawn again for the new user); a
// renewal fires nothing (the same user goes on, and every URL is made with the token of the
// moment: see mediaUrl).

import { whenLeft } from "./dom.js";

const BASE = "/api/v1";
const KEY = "timeside.session";

/** The stored session: { access, refresh, username } or null. */
export function session() {
  try {
    return JSON.parse(localStorage.getItem(KEY));
  } catch {
    return null;
  }
}

function store(s) {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
}

/** A new session (or none): stored, and announced to the views. */
function keep(s) {
  store(s);
  window.dispatchEvent(new Event("timeside:session"));
}

/** An API error: the server's `code` and `message`, and the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // Not JSON: the status says enough.
  }
  return new ApiError(response.status, body.code || "http_" + response.status, body.message || response.statusText);
}

// The renewal under way: requests refused together share it.
let renewing = null;

/** Gets a new access token with the refresh token; false (and logged out) if refused. */
export function renew() {
  renewing ??= renewOnce().finally(() => (renewing = null));
  return renewing;
}

async function renewOnce() {
  const s = session();
  if (!s || !s.refresh) return false;
  const r = await fetch(BASE + "/token/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh: s.refresh }),
  });
  if (!r.ok) {
    keep(null);
    return false;
  }
  const pair = await r.json();
  store({ ...s, access: pair.access, refresh: pair.refresh || s.refresh });
  return true;
}

/** Seconds left on an access token (its JWT `exp`); Infinity when it cannot be read. */
function secondsLeft(access) {
  try {
    const payload = JSON.parse(atob(access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.exp - Date.now() / 1000;
  } catch {
    return Infinity;
  }
}

/**
 * The session, its access token renewed first if it has less than a minute left: for what
 * cannot renew it on a refusal (elements' URLs, WebSocket handshakes, uploads).
 */
async function freshSession() {
  const s = session();
  if (s && secondsLeft(s.access) < 60) await renew();
  return session();
}

/**
 * A URL of the API that an element loads itself (audio, images, download links send no
 * header): the token goes in the query.
 */
export async function mediaUrl(path, params = {}) {
  const s = await freshSession();
  const query = new URLSearchParams({ ...params, ...(s ? { token: s.access } : {}) });
  return `${BASE}${path}?${query}`;
}

/** Follows a download link of the API with a token renewed if need be (a link sends no header). */
export async function download(event, path, params = {}) {
  event.preventDefault();
  const link = document.createElement("a");
  link.href = await mediaUrl(path, params);
  link.download = "";
  link.click();
}

function authorization() {
  const s = session();
  return s ? { Authorization: "Bearer " + s.access } : {};
}

/**
 * `method path` with an optional JSON body; the parsed reply (null for 204). `signal` (an
 * AbortSignal) cancels it.
 */
export async function call(method, path, body, { signal } = {}) {
  const send = () =>
    fetch(BASE + path, {
      method,
      signal,
      headers: { ...authorization(), ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let r = await send();
  if (r.status === 401 && session() && (await renew())) r = await send();
  if (!r.ok) throw await failure(r);
  return r.status === 204 ? null : r.json();
}

export async function login(username, password) {
  const r = await fetch(BASE + "/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) throw await failure(r);
  const pair = await r.json();
  keep({ access: pair.access, refresh: pair.refresh, username });
}

export function logout() {
  keep(null);
}

/**
 * Uploads `file` as a new item; `progress(fraction)` follows the bytes sent. Resolves with
 * the new item. XMLHttpRequest, because fetch reports no upload progress.
 */
export async function upload(file, progress) {
  const s = await freshSession();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", BASE + "/items");
    if (s) xhr.setRequestHeader("Authorization", "Bearer " + s.access);
    xhr.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total);
    xhr.onload = () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON.
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body.code || "http_" + xhr.status, body.message || xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "the upload could not reach the server"));
    const form = new FormData();
    form.append("title", file.name.replace(/\.[^.]+$/, ""));
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/**
 * A WebSocket to the event feed (`/api/v1/ws`) following `topics` (one or a list), with the
 * session's token (renewed first if need be: a refused handshake cannot renew it);
 * `onEvent(event)` for each event, `onClose()` when the connection ends or cannot be made.
 * Returns `{ subscribe(topic), close() }`; `subscribe` follows one more topic. Views use
 * followWhileShown.
 */
function follow(topics, onEvent, onClose) {
  const pending = [].concat(topics);
  let socket = null;
  let closed = false;
  const send = (topic) => socket.send(JSON.stringify({ op: "subscribe", topic }));
  mediaUrl("/ws").then((url) => {
    if (closed) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${url}`);
    socket.addEventListener("open", () => pending.splice(0).forEach(send));
    socket.addEventListener("message", (m) => {
      try {
        onEvent(JSON.parse(m.data));
      } catch {
        // Not an event.
      }
    });
    socket.addEventListener("close", onClose);
  }, onClose);
  return {
    subscribe: (topic) => (socket?.readyState === WebSocket.OPEN ? send(topic) : pending.push(topic)),
    close() {
      closed = true;
      socket?.close();
    },
  };
}

/** How long a view waits before it connects again to the event feed after losing it (ms). */
const RECONNECT_MS = 2000;

/**
 * follow() for a view: after a lost connection (a server restart) it connects again every
 * RECONNECT_MS, with every topic followed so far, until `signal` (the view's) fires or it is
 * closed. Returns `{ subscribe(topic), close() }`.
 */
export function followWhileShown(topics, onEvent, signal) {
  const followed = [].concat(topics);
  let socket = null;
  let closed = false;
  const open = () => !closed && !signal.aborted;
  const connect = () => {
    socket = follow(followed, onEvent, () => open() && setTimeout(() => open() && connect(), RECONNECT_MS));
  };
  const close = () => {
    closed = true;
    socket.close();
  };
  connect();
  whenLeft(signal, close);
  return {
    subscribe(topic) {
      followed.push(topic);
      socket.subscribe(topic);
    },
    close,
  };
}
