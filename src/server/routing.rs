//! Which protocol a connection speaks, decided on its request line before any HTTP parsing.
//!
//! Source clients (Icecast `PUT`/`SOURCE`) stream a body with neither `Content-Length` nor
//! chunked encoding, which an HTTP server reads as empty, so they are read raw (`ingest`).
//! Stream listeners get a connection without hyper's per-connection buffers (`listeners`).
//! WebSocket clients are served on the event runtime. Everything else is HTTP (warp).
//!
//! | request line                          | route          |
//! |---------------------------------------|----------------|
//! | `SOURCE /<mount> ...`                 | source client  |
//! | `PUT /<mount> ...`, mount a plain name | source client  |
//! | `PUT` under a [`RESERVED`] prefix      | HTTP           |
//! | `OPTIONS * ...` (libshout's probe)    | source client  |
//! | `GET /api/v1/ws...`                   | WebSocket      |
//! | `GET /live/<mount>...`, one segment   | listener       |
//! | anything else                         | HTTP           |
//!
//! A mount is one path segment (`/radio`, `/radio.mp3`): a `PUT` whose path has more segments
//! is HTTP too, so no endpoint nested under a prefix (present or future) is ever taken for a
//! source client.

/// Path prefixes that belong to HTTP endpoints: never mounts.
pub const RESERVED: &[&str] = &["/api/", "/iiif/", "/items/", "/live/", "/admin/", "/metrics", "/status-json.xsl"];

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Route {
    SourceClient,
    Listener,
    WebSocket,
    Http,
}

/// The route of a connection whose first line (up to the line end, or what came of it) is `line`.
pub fn classify(line: &[u8]) -> Route {
    let line = line.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match method {
        "SOURCE" => Route::SourceClient,
        "PUT" if is_mount_path(path) => Route::SourceClient,
        // libshout asks the whole server (`*`) what it can do before it logs in; a CORS
        // preflight names a path, and is HTTP's.
        "OPTIONS" if path == "*" => Route::SourceClient,
        "GET" if path == "/api/v1/ws" || path.starts_with("/api/v1/ws?") => Route::WebSocket,
        "GET" if is_listener_path(path) => Route::Listener,
        _ => Route::Http,
    }
}

fn is_mount_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    path.starts_with('/')
        && path.len() > 1
        && !path[1..].contains('/')
        && !RESERVED.iter().any(|r| path.starts_with(r) || path == r.trim_end_matches('/'))
}

/// `/live/<mount>` (a channel's stream), not the HLS files nested under `/live/<channel>/`.
fn is_listener_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    path.strip_prefix("/live/").is_some_and(|mount| !mount.is_empty() && !mount.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_table() {
        for (line, route) in [
            ("SOURCE /live HTTP/1.0", Route::SourceClient),
            ("PUT /mychannel HTTP/1.1", Route::SourceClient),
            ("PUT /radio.mp3?x=1 HTTP/1.1", Route::SourceClient),
            ("PUT /api/v1/live/x HTTP/1.1", Route::Http),
            // A new API endpoint, or one under any other prefix, is never a mount.
            ("PUT /api/v1/items/0c9a/annotations HTTP/1.1", Route::Http),
            ("PUT /api HTTP/1.1", Route::Http),
            ("PUT /a/b HTTP/1.1", Route::Http),
            ("PUT /live/demo.mp3 HTTP/1.1", Route::Http),
            ("PUT /metrics HTTP/1.1", Route::Http),
            ("PUT / HTTP/1.1", Route::Http),
            ("OPTIONS * HTTP/1.1", Route::SourceClient),
            ("OPTIONS /api/v1/items HTTP/1.1", Route::Http),
            ("GET /api/v1/ws HTTP/1.1", Route::WebSocket),
            ("GET /api/v1/ws?x HTTP/1.1", Route::WebSocket),
            ("GET /api/v1/wsx HTTP/1.1", Route::Http),
            ("GET /live/demo.mp3 HTTP/1.1", Route::Listener),
            ("GET /live/demo.mp3?latency=low HTTP/1.1", Route::Listener),
            ("HEAD /live/demo.mp3 HTTP/1.1", Route::Http),
            ("GET /live/demo/index.m3u8 HTTP/1.1", Route::Http),
            ("GET /live/demo/aac-128/3.ts HTTP/1.1", Route::Http),
            ("GET /live/ HTTP/1.1", Route::Http),
            ("", Route::Http),
        ] {
            assert_eq!(classify(line.as_bytes()), route, "{line}");
        }
    }
}
