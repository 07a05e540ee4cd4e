// The REST API as the player uses it: JSON requests with the logged-in user's token (kept in
// localStorage, renewed with the refresh token when it expires), and uploads with progress.

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

function keep(s) {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
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

async function renew() {
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
  keep({ ...s, access: pair.access, refresh: pair.refresh || s.refresh });
  return true;
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
export function upload(file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", BASE + "/items");
    const auth = authorization();
    if (auth.Authorization) xhr.setRequestHeader("Authorization", auth.Authorization);
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
 * session's token; `onEvent(event)` for each event. Its `subscribe(topic)` follows one more.
 */
export function follow(topics, onEvent) {
  const s = session();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = s ? `?token=${encodeURIComponent(s.access)}` : "";
  const socket = new WebSocket(`${scheme}//${location.host}/api/v1/ws${query}`);
  const pending = [].concat(topics);
  const send = (topic) => socket.send(JSON.stringify({ op: "subscribe", topic }));
  socket.addEventListener("open", () => pending.splice(0).forEach(send));
  socket.addEventListener("message", (m) => {
    try {
      onEvent(JSON.parse(m.data));
    } catch {
      // Not an event.
    }
  });
  socket.subscribe = (topic) => (socket.readyState === WebSocket.OPEN ? send(topic) : pending.push(topic));
  return socket;
}
