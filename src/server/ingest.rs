//! Icecast-compatible source clients: `PUT /<mount>` (Icecast 2.4+, ffmpeg's `icecast://`,
//! liquidsoap) and the legacy `SOURCE /<mount>` (butt, older tools), with HTTP basic auth.
//!
//! Source clients stream their body until they hang up, with neither `Content-Length` nor
//! chunked encoding, which a regular HTTP server reads as an empty body. So these requests are
//! recognised before HTTP parsing (the accept loop peeks at the request line) and read raw here.
//!
//! Replies: 401 wrong or missing password, 404 no such mount (when creating is off), 409 the
//! mount has a source already (or a configured one), 200 and then the server reads the stream.
//! `Expect: 100-continue` is answered. The pushed bytes (MP3, Ogg Vorbis/Opus, AAC, ...) are
//! decoded by the channel; a mount that does not exist yet is created (mp3 and opus streams).

use super::AppState;
use super::config::ChannelConfig;
use crate::live::{AttachError, Channel, PUSH_SOURCE};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_HEAD: usize = 16 * 1024;
/// A source that sends nothing for this long is dropped (its listeners go on with silence).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether the first bytes of a connection are a source client's request.
pub fn is_source_request(peeked: &[u8]) -> bool {
    let line = peeked.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match method {
        "SOURCE" => true,
        // PUT elsewhere (the API) is ordinary HTTP.
        "PUT" => path.starts_with('/') && !path.starts_with("/api/") && !path.starts_with("/live/"),
        _ => false,
    }
}

struct Head {
    method: String,
    path: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads the request head; returns it and whatever body bytes came with it.
async fn read_head(stream: &mut TcpStream) -> Result<(Head, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .map_err(|_| "timed out reading the request".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the request ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut request = lines.next().unwrap_or_default().split_whitespace();
    let method = request.next().unwrap_or_default().to_string();
    let path = request.next().unwrap_or_default().to_string();
    let version = request.next().unwrap_or("HTTP/1.0").to_string();
    let headers =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    Ok((Head { method, path, version, headers }, buf[end + 4..].to_vec()))
}

async fn respond(stream: &mut TcpStream, version: &str, status: &str, code: &str, message: &str) {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    let auth = if status.starts_with("401") { "WWW-Authenticate: Basic realm=\"TimeSide source\"\r\n" } else { "" };
    let reply = format!(
        "{version} {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Decodes standard base64 (for the basic auth header).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.trim().bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The password of a `Basic` authorization header (the user name is not checked, as Icecast's
/// default `source` user).
fn basic_password(header: Option<&str>) -> Option<String> {
    let encoded = header?.strip_prefix("Basic ").or_else(|| header?.strip_prefix("basic "))?;
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    decoded.split_once(':').map(|(_, p)| p.to_string())
}

/// The mount's channel id: `/name`, `/name.mp3` and `/name.ogg` all mean channel `name`.
fn mount_id(path: &str) -> String {
    let name = path.trim_start_matches('/').split('?').next().unwrap_or_default();
    let name = [".mp3", ".ogg", ".opus", ".aac", ".oga"].iter().find_map(|ext| name.strip_suffix(ext)).unwrap_or(name);
    name.to_string()
}

pub async fn handle(mut stream: TcpStream, state: Arc<AppState>) {
    let (head, early_body) = match read_head(&mut stream).await {
        Ok(h) => h,
        Err(e) => return respond(&mut stream, "HTTP/1.0", "400 Bad Request", "bad_request", &e).await,
    };
    let version = if head.version == "HTTP/1.1" { "HTTP/1.1" } else { "HTTP/1.0" };
    let id = mount_id(&head.path);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        let msg = format!("`{}` is not a mount name (letters, digits, - and _)", head.path);
        return respond(&mut stream, version, "400 Bad Request", "bad_mount", &msg).await;
    }
    if head.header("Transfer-Encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let msg = "chunked source streams are not supported: send the raw stream (as Icecast clients do)";
        return respond(&mut stream, version, "501 Not Implemented", "chunked_source", msg).await;
    }
    let channel = state.channel(&id);
    let password = basic_password(head.header("Authorization"));
    let expected = match &channel {
        Some(c) if !c.source_password.is_empty() => c.source_password.clone(),
        _ => state.config.server.source_password.clone(),
    };
    if expected.is_empty() || password.as_deref() != Some(expected.as_str()) {
        let msg = if expected.is_empty() {
            "source clients are not enabled (set server.source_password or --source-password)"
        } else {
            "wrong or missing source password"
        };
        return respond(&mut stream, version, "401 Unauthorized", "unauthorized", msg).await;
    }
    let channel = match channel {
        Some(c) => c,
        None if state.config.server.create_channels_on_source => {
            let name = head.header("ice-name").unwrap_or(&id).to_string();
            match create_push_channel(&state, &id, &name).await {
                Ok(c) => c,
                Err(e) => {
                    return respond(&mut stream, version, "500 Internal Server Error", "channel_failed", &e).await;
                }
            }
        }
        None => {
            let msg = format!("no mount `/{id}` (this server does not create channels for sources)");
            return respond(&mut stream, version, "404 Not Found", "unknown_channel", &msg).await;
        }
    };
    let feed = match channel.attach_source() {
        Ok(f) => f,
        Err(AttachError::Busy) => {
            let msg = format!("`/{id}` already has a source");
            return respond(&mut stream, version, "409 Conflict", "source_busy", &msg).await;
        }
        Err(AttachError::NotPush) => {
            let msg = format!("`/{id}` plays a configured source, not a source client");
            return respond(&mut stream, version, "409 Conflict", "configured_source", &msg).await;
        }
    };
    if head.header("Expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        let _ = stream.write_all(format!("{version} 100 Continue\r\n\r\n").as_bytes()).await;
    }
    if stream.write_all(format!("{version} 200 OK\r\nServer: TimeSide\r\n\r\n").as_bytes()).await.is_err() {
        return;
    }
    tracing::info!(mount = %id, method = %head.method, "source client connected");
    // Dropped when this function returns: the mp3 mount goes back to its encoder.
    let mut relay = channel.mp3_relay(head.header("Content-Type"));
    if let Some(relay) = &mut relay {
        relay.push(&early_body);
    }
    if !early_body.is_empty() && feed.tx.send(bytes::Bytes::from(early_body)).await.is_err() {
        return;
    }
    let mut shutdown = state.shutdown.clone();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut buf)) => r,
            _ = shutdown.changed() => break,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                if let Some(relay) = &mut relay {
                    relay.push(&buf[..n]);
                }
                // Waits when the decoder is behind: the source client is slowed, not memory.
                if feed.tx.send(bytes::Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    break;
                }
            }
        }
    }
    tracing::info!(mount = %id, "source client left");
}

/// GET /admin/metadata?mount=/<id>&mode=updinfo&song=<title>: Icecast's metadata update, which
/// source clients (butt, liquidsoap, ffmpeg scripts) send when the track changes. Same
/// authentication as the source itself. The title goes to ICY listeners and to subscribers as
/// a `metadata` event.
pub fn admin_metadata(
    query: std::collections::HashMap<String, String>,
    auth: Option<String>,
    state: Arc<AppState>,
) -> warp::reply::Response {
    use warp::http::StatusCode;
    use warp::reply::Reply;
    let xml = |status: StatusCode, ok: bool, message: &str| {
        let body = format!(
            "<?xml version=\"1.0\"?>\n<iceresponse><message>{message}</message><return>{}</return></iceresponse>\n",
            ok as u8
        );
        let mut r = warp::reply::with_status(body, status).into_response();
        r.headers_mut().insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("text/xml"));
        r
    };
    let id = mount_id(query.get("mount").map(String::as_str).unwrap_or_default());
    let Some(channel) = state.channel(&id) else {
        return xml(StatusCode::NOT_FOUND, false, "Source does not exist");
    };
    let expected = if channel.source_password.is_empty() {
        &state.config.server.source_password
    } else {
        &channel.source_password
    };
    if expected.is_empty() || basic_password(auth.as_deref()).as_deref() != Some(expected.as_str()) {
        return xml(StatusCode::UNAUTHORIZED, false, "Authentication Required");
    }
    if query.get("mode").map(String::as_str) != Some("updinfo") {
        return xml(StatusCode::BAD_REQUEST, false, "Unsupported mode (only updinfo)");
    }
    let title = query.get("song").or(query.get("title")).cloned().unwrap_or_default();
    channel.set_now_playing(&title);
    xml(StatusCode::OK, true, "Metadata update successful")
}

/// A channel for a source client's new mount: mp3 and opus streams, default bitrates.
async fn create_push_channel(state: &Arc<AppState>, id: &str, name: &str) -> Result<Arc<Channel>, String> {
    let config = ChannelConfig {
        id: id.to_string(),
        name: name.to_string(),
        source: PUSH_SOURCE.to_string(),
        looped: false,
        formats: vec!["mp3".into(), "opus".into()],
        mp3_bitrate_kbps: 128,
        opus_bitrate_kbps: 96,
        opus_page_ms: super::config::default_opus_page_ms(),
        max_listeners: 0,
        source_password: String::new(),
        analyzers: super::config::default_analyzers(),
        fallback: String::new(),
        mp3_passthrough: true,
    };
    let (live, dir, registry) =
        (state.config.live.clone(), state.config.server.data_dir.clone(), state.channels.clone());
    let channel = tokio::task::spawn_blocking(move || Channel::start(&config, &live, &dir, &registry))
        .await
        .map_err(|e| e.to_string())??;
    let mut channels = state.channels.write().unwrap_or_else(|e| e.into_inner());
    // Two sources may have raced to create the mount: the first one wins.
    Ok(channels.entry(id.to_string()).or_insert(channel).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_source_requests() {
        assert!(is_source_request(b"SOURCE /live HTTP/1.0\r\n"));
        assert!(is_source_request(b"PUT /mychannel HTTP/1.1\r\nHost: x\r\n"));
        assert!(!is_source_request(b"PUT /api/v1/live/x HTTP/1.1\r\n"));
        assert!(!is_source_request(b"GET /live/demo.mp3 HTTP/1.1\r\n"));
    }

    #[test]
    fn basic_auth_and_mounts() {
        // "source:hackme"
        assert_eq!(basic_password(Some("Basic c291cmNlOmhhY2ttZQ==")).as_deref(), Some("hackme"));
        assert_eq!(basic_password(None), None);
        assert_eq!(mount_id("/radio.mp3"), "radio");
        assert_eq!(mount_id("/studio"), "studio");
    }
}
