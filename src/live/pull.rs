//! An edge channel's source: its origin's mount, pulled over HTTP and fed to the channel the way
//! an Icecast source client's bytes are ([`SourcePump`]). So an MP3 mount relays the origin's
//! own frames (no second generation of lossy coding, no encoder delay; `passthrough`) while the
//! channel still decodes once for its analyzers, its other formats and HLS; titles come along
//! (the origin's ICY metadata, or the Ogg comments the decoder reads). When the origin is down,
//! the channel plays silence (or its fallback) and this retries with a growing wait, so
//! listeners stay connected and hear the origin again within seconds of its return.

use super::channel::Channel;
use super::icy::{IcyReader, stream_title};
use super::push::SourcePump;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The first wait before reconnecting, doubled at each failure up to [`LONGEST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(4);
/// How long connecting and the response head may take.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response head read from an origin.
const MAX_HEAD: usize = 16 * 1024;

/// Relays `url` into `channel` until `shutdown` (or the task is aborted: the channel was
/// removed). `idle`: how long the origin may send nothing before the connection is dropped.
pub async fn pull(
    channel: Arc<Channel>,
    url: String,
    idle: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = FIRST_RETRY;
    loop {
        let started = Instant::now();
        let outcome = tokio::select! {
            r = relay(&channel, &url, idle) => r,
            _ = shutdown.changed() => return,
        };
        if let Err(e) = outcome {
            tracing::warn!(channel = %channel.id, %url, error = %e, "edge: lost the origin's mount; retrying");
        }
        // A relay that lasted was a success: the next failure starts the waits over.
        if started.elapsed() > LONGEST_RETRY {
            wait = FIRST_RETRY;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = (wait * 2).min(LONGEST_RETRY);
    }
}

/// One connection to the origin's mount, relayed until it ends: always an `Err` saying why.
async fn relay(channel: &Channel, url: &str, idle: Duration) -> Result<(), String> {
    let (host, path) = super::edge::split_origin(url)?;
    let (mut stream, head, early) = tokio::time::timeout(HEAD_TIMEOUT, open(&host, &path))
        .await
        .map_err(|_| format!("{url}: no answer in {} s", HEAD_TIMEOUT.as_secs()))??;
    let metaint = head.header("icy-metaint").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let feed = channel.attach_source().map_err(|_| "the channel has another source".to_string())?;
    let mut pump = SourcePump::new(channel, feed, head.header("content-type"));
    let mut icy = IcyReader::new(metaint);
    let mut audio = Vec::with_capacity(16 * 1024);
    // What came with the head first, then each read, in one buffer.
    let mut filled = early.len();
    let mut buf = early;
    buf.resize(buf.len().max(16 * 1024), 0);
    loop {
        audio.clear();
        for text in icy.read(&buf[..filled], &mut audio) {
            if let Some(title) = stream_title(&text).filter(|t| *t != channel.now_playing()) {
                channel.set_now_playing(title);
            }
        }
        pump.push(&audio).await.map_err(|()| "the channel is gone".to_string())?;
        filled = match tokio::time::timeout(idle, stream.read(&mut buf)).await {
            Ok(Ok(0)) => return Err("the origin ended the stream".into()),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("the origin sent nothing for {} s", idle.as_secs_f64())),
        };
    }
}

/// A response's headers (names in lower case).
pub(super) struct Head {
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// GETs `path` (with ICY metadata, for a mount) and reads the response head, which must be a
/// 200: the stream, the head, and the body bytes that came with it. Also how an edge reads its
/// origin's status.
pub(super) async fn open(host: &str, path: &str) -> Result<(tokio::net::TcpStream, Head, Vec<u8>), String> {
    let mut stream = tokio::net::TcpStream::connect(host).await.map_err(|e| format!("{host}: {e}"))?;
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: timeside-edge\r\nIcy-MetaData: 1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut data = Vec::with_capacity(4096);
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if data.len() > MAX_HEAD {
            return Err(format!("{host}{path}: the response head is over {MAX_HEAD} bytes"));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) => return Err(format!("{host}{path}: the connection ended before the response head")),
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("{host}{path}: {e}")),
        }
    };
    let text = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    // Icecast 2.3 and SHOUTcast answer `ICY 200 OK`.
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{host}{path}: {status_line}"));
    }
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let head = Head { headers };
    if let Some(coding) = head.header("transfer-encoding").filter(|c| !c.eq_ignore_ascii_case("identity")) {
        return Err(format!("{host}{path}: Transfer-Encoding `{coding}` (a live mount is sent raw)"));
    }
    Ok((stream, head, data[end + 4..].to_vec()))
}
