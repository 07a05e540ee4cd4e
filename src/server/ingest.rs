//! Icecast-compatible source clients: `PUT /<mount>` (Icecast 2.4+, ffmpeg's `icecast://`,
//! liquidsoap) and the legacy `SOURCE /<mount>` (butt, older tools), with HTTP basic auth.
//!
//! Source clients stream their body until they hang up, with neither `Content-Length` nor
//! chunked encoding, which a regular HTTP server reads as an empty body. So these requests are
//! recognised before HTTP parsing (the accept loop peeks at the request line) and read raw here.
//!
//! libshout (ices2, ezstream, GStreamer's `shout2send`, Mixxx) first asks `OPTIONS *` with
//! `Upgrade: TLS/1.0`, then sends its request once without credentials (a challenge) and once
//! with them. The probe gets what Icecast answers (no upgrade: the stream stays plain), the
//! challenge a 401 that is not counted as a failed login: only a wrong password is.
//!
//! Replies: 401 wrong or missing password, 404 no such mount (when creating is off), 409 the
//! mount has a source already (or a configured one), 200 and then the server reads the stream.
//! `Expect: 100-continue` is answered. The pushed bytes (MP3, Ogg Vorbis/Opus, AAC, ...) are
//! decoded by the channel; a mount that does not exist yet is created (mp3 and opus streams).

use super::AppState;
use super::auth::{Refused, basic_password};
use super::conn::{HEAD_TIMEOUT, Prefixed};
use super::errors::Status;
use crate::live::config::{ChannelConfig, MAX_ID_LEN, valid_channel_id};
use crate::live::{AttachError, Channel, CreateError, CreatedBy, SourcePump};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Stream = Prefixed<TcpStream>;

const MAX_HEAD: usize = 16 * 1024;

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
async fn read_head(stream: &mut Stream) -> Result<(Head, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    // One deadline for the whole head: a client trickling a byte at a time is let go too.
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
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

/// Methods a source client may use here, as `OPTIONS *` lists them. `PUT` is left out on
/// purpose: libshout would then send `PUT` as HTTP/1.1, and `SOURCE` is what it does best.
const ALLOW: &str = "GET, HEAD, OPTIONS, SOURCE";

async fn respond(stream: &mut Stream, version: &str, status: &str, code: &str, message: &str) {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    let auth = if status.starts_with("401") { "WWW-Authenticate: Basic realm=\"TimeSide source\"\r\n" } else { "" };
    // `Connection: close`: libshout then opens a new connection for its next request rather
    // than reusing this one.
    let reply = format!(
        "{version} {status}\r\nServer: TimeSide\r\nAllow: {ALLOW}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The mount's channel id: `/name`, `/name.mp3` and `/name.ogg` all mean channel `name`.
fn mount_id(path: &str) -> String {
    let name = path.trim_start_matches('/').split('?').next().unwrap_or_default();
    // Source clients often name the mount after their format: `/radio.mp3`, `/radio.ogg`.
    match name.rsplit_once('.') {
        Some((stem, ext)) if crate::processors::encoders::formats::format(ext).is_some() => stem.to_string(),
        _ => name.to_string(),
    }
}

/// The password a source of `channel` must give (the channel's own, or the server's).
fn expected_password<'a>(state: &'a AppState, channel: Option<&'a Arc<Channel>>) -> &'a str {
    match channel {
        Some(c) if !c.source_password.is_empty() => &c.source_password,
        _ => &state.config.server.source_password,
    }
}

pub async fn handle(mut stream: Stream, peer: SocketAddr, state: Arc<AppState>) {
    let (head, early_body) = match read_head(&mut stream).await {
        Ok(h) => h,
        Err(e) => return respond(&mut stream, "HTTP/1.0", "400 Bad Request", "bad_request", &e).await,
    };
    let version = if head.version == "HTTP/1.1" { "HTTP/1.1" } else { "HTTP/1.0" };
    if head.method == "OPTIONS" {
        // The capability probe: what Icecast answers when it offers no TLS upgrade.
        return respond(&mut stream, version, "200 OK", "options", "no upgrade: send the stream in plain").await;
    }
    let id = mount_id(&head.path);
    if !valid_channel_id(&id) {
        let msg = format!("`{}` is not a mount name (1 to {MAX_ID_LEN} letters, digits, - and _)", head.path);
        return respond(&mut stream, version, "400 Bad Request", "bad_mount", &msg).await;
    }
    // Any transfer coding (chunked, gzip, ...) would reach the decoder as garbage.
    if let Some(coding) = head.header("Transfer-Encoding").filter(|t| !t.trim().eq_ignore_ascii_case("identity")) {
        let msg = format!(
            "Transfer-Encoding `{coding}` is not supported for source streams: send the raw stream (as Icecast clients do)"
        );
        return respond(&mut stream, version, "501 Not Implemented", "transfer_encoding", &msg).await;
    }
    let channel = state.channel(&id);
    let expected = expected_password(&state, channel.as_ref());
    if expected.is_empty() {
        let msg = "source clients are not enabled (set server.source_password or --source-password)";
        return respond(&mut stream, version, "401 Unauthorized", "unauthorized", msg).await;
    }
    // libshout's challenge: a request without credentials is asked for them, and is no
    // failed login (it would otherwise lock out every libshout client after 10 connects).
    let Some(authorization) = head.header("Authorization") else {
        return respond(&mut stream, version, "401 Unauthorized", "unauthorized", "a source password is required")
            .await;
    };
    let given = basic_password(Some(authorization)).unwrap_or_default();
    match state.logins.check(Some(peer.ip()), &given, expected, "source") {
        Ok(()) => {}
        Err(Refused::TooManyFailures) => {
            let msg = "too many failed logins from this address: try again later";
            return respond(&mut stream, version, "429 Too Many Requests", "too_many_failures", msg).await;
        }
        Err(Refused::Wrong) => {
            let msg = "wrong or missing source password";
            return respond(&mut stream, version, "401 Unauthorized", "unauthorized", msg).await;
        }
    }
    let channel = match channel {
        Some(c) => c,
        None if state.config.server.create_channels_on_source => {
            let name = head.header("ice-name").unwrap_or(&id).to_string();
            let config = ChannelConfig::for_source_client(&id, &name);
            let channels = state.channels.clone();
            let created = tokio::task::spawn_blocking(move || channels.create(&config, CreatedBy::SourceClient))
                .await
                .unwrap_or_else(|e| Err(CreateError::Invalid(vec![e.to_string()])));
            match created {
                Ok(c) => c,
                // `Exists`: another source created it meanwhile, and has the mount.
                Err(e) => {
                    let status = format!("{} {}", e.status().as_u16(), e.status().canonical_reason().unwrap_or(""));
                    return respond(&mut stream, version, &status, e.code(), &e.to_string()).await;
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
    tracing::info!(mount = %id, method = %head.method, %peer, "source client connected");
    // Dropped when this function returns: a relayed mount goes back to its encoder.
    let mut pump = SourcePump::new(&channel, feed, head.header("Content-Type"));
    if pump.push(&early_body).await.is_err() {
        return;
    }
    let mut shutdown = state.shutdown.clone();
    let idle = Duration::from_secs_f64(state.config.live.source_timeout_s);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout(idle, stream.read(&mut buf)) => r,
            _ = shutdown.changed() => break,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Err(_) => {
                tracing::warn!(mount = %id, %peer, seconds = idle.as_secs_f64(), "source client sent nothing: dropped");
                break;
            }
            Ok(Ok(n)) => {
                if pump.push(&buf[..n]).await.is_err() {
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
    peer: Option<super::Peer>,
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
    let expected = expected_password(&state, Some(&channel));
    if expected.is_empty() {
        return xml(StatusCode::UNAUTHORIZED, false, "Authentication Required");
    }
    let given = basic_password(auth.as_deref()).unwrap_or_default();
    match state.logins.check(peer.map(|p| p.0.ip()), &given, expected, "admin") {
        Ok(()) => {}
        Err(Refused::TooManyFailures) => return xml(StatusCode::TOO_MANY_REQUESTS, false, "Too many failed logins"),
        Err(Refused::Wrong) => return xml(StatusCode::UNAUTHORIZED, false, "Authentication Required"),
    }
    if query.get("mode").map(String::as_str) != Some("updinfo") {
        return xml(StatusCode::BAD_REQUEST, false, "Unsupported mode (only updinfo)");
    }
    let title = query.get("song").or(query.get("title")).cloned().unwrap_or_default();
    channel.set_now_playing(&title);
    xml(StatusCode::OK, true, "Metadata update successful")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_names() {
        assert_eq!(mount_id("/radio.mp3"), "radio");
        assert_eq!(mount_id("/studio"), "studio");
    }
}
