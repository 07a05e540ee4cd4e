//! A small HTTP client for the on-demand API, shared by the server benchmarks that drive it
//! (`on_demand`, `scale_out`, `visual`), and the media they feed it.

// Each benchmark binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "bench-token";

/// Writes `dir/server.toml` for a server with data in `dir/data`, no live channel, the bench
/// token, `workers` in-process workers, files read in place under `media`, and `database` (a
/// PostgreSQL URL) or SQLite; returns its path.
pub fn write_server_config(dir: &Path, media: &Path, workers: usize, database: Option<&str>) -> PathBuf {
    write_server_config_with_channels(dir, media, workers, database, "")
}

/// `write_server_config` with live channels: `channels` holds their `[[channels]]` tables.
pub fn write_server_config_with_channels(
    dir: &Path,
    media: &Path,
    workers: usize,
    database: Option<&str>,
    channels: &str,
) -> PathBuf {
    let database_line = database.map(|url| format!("database = \"{url}\"\n")).unwrap_or_default();
    // No tables: no channel at all (the shipped config's demo channel would run otherwise).
    let none = if channels.is_empty() { "channels = []\n" } else { "" };
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "{none}[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"{TOKEN}\"\n{database_line}[jobs]\nworkers = {workers}\n[live]\nmedia_roots = [\"{}\"]\n{channels}",
            dir.join("data").display(),
            media.display()
        ),
    )
    .expect("config");
    config
}

/// CPU seconds (user + system) of a process so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    ticks as f64 / 100.0
}

/// A 44.1 kHz 16-bit stereo FLAC of `seconds` of sox's `signal` (`pinknoise`, `sine 440`).
pub fn synth(path: &Path, seconds: u32, signal: &str) {
    let status = std::process::Command::new("sox")
        .args(["-n", "-r", "44100", "-c", "2", "-b", "16"])
        .arg(path)
        .args(["synth", &seconds.to_string()])
        .args(signal.split(' '))
        .args(["vol", "0.5"])
        .status()
        .expect("sox");
    assert!(status.success(), "sox: {}", path.display());
}

/// `seconds` of two tones under a slow tremolo (a waveform with shape everywhere), 44.1 kHz
/// stereo, encoded by ffmpeg as FLAC files usually are made (without a seek table); `scratch`
/// holds the WAV it starts from meanwhile.
pub fn music_like_flac(scratch: &Path, file: &Path, seconds: u32) {
    let wav = scratch.join("music-like.wav");
    let status = std::process::Command::new("sox")
        .args(["-n", "-r", "44100", "-c", "2", "-b", "16"])
        .arg(&wav)
        .args(["synth", &seconds.to_string(), "sine", "220", "sine", "331", "tremolo", "0.3", "70", "vol", "0.5"])
        .status()
        .expect("sox");
    assert!(status.success());
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "flac"])
        .arg(file)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let _ = std::fs::remove_file(&wav);
}

/// Waits (at most an hour) until the item's ingest results (`peaks_pyramid`,
/// `coarse_spectrogram`) are done.
pub async fn wait_for_ingest(addr: std::net::SocketAddr, uuid: &str) {
    let started = Instant::now();
    loop {
        let rows = json(addr, "GET", &format!("/api/v1/results?item={uuid}"), serde_json::Value::Null).await;
        let done = |id: &str| {
            rows["results"].as_array().into_iter().flatten().any(|r| r["processor"] == id && r["status"] == "done")
        };
        if done("peaks_pyramid") && done("coarse_spectrogram") {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "ingest too long");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One request over its own connection; returns (status, body, time to the first body byte).
pub async fn request(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, Vec<u8>, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("send");
    let mut data = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut first_body = None;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(600), s.read(&mut buf)).await.expect("in time").expect("read");
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        if first_body.is_none()
            && let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n")
            && data.len() > at + 4
        {
            first_body = Some(started.elapsed());
            if path.contains("stream.") {
                break; // the time to first byte is what is measured, not the whole stream
            }
        }
    }
    let at = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    let head = String::from_utf8_lossy(&data[..at]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = data.get(at + 4..).unwrap_or_default();
    let body = if head.contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_vec() };
    (status, body, first_body.unwrap_or_else(|| started.elapsed()))
}

/// A chunked body's bytes.
fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut raw = body;
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || raw.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[(end + 4 + size).min(raw.len())..];
    }
    out
}

pub async fn json(addr: std::net::SocketAddr, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, bytes, _) = request(addr, method, path, &body.to_string()).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice(&bytes).expect("json")
}

/// Adds the files under the media root as items; returns their uuids.
pub async fn add_items(addr: std::net::SocketAddr, files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        let item =
            json(addr, "POST", "/api/v1/items", serde_json::json!({ "source_url": f.display().to_string() })).await;
        out.push(item["uuid"].as_str().expect("uuid").to_string());
    }
    out
}

/// Runs `experience` on a new selection of `items`; returns the wall time until it is done.
pub async fn run_task(addr: std::net::SocketAddr, experience: &str, items: &[String]) -> Duration {
    let selection = json(addr, "POST", "/api/v1/selections", serde_json::json!({ "items": items })).await;
    let started = Instant::now();
    let task = json(
        addr,
        "POST",
        "/api/v1/tasks",
        serde_json::json!({ "experience": experience, "selection": selection["uuid"] }),
    )
    .await;
    let id = task["uuid"].as_str().expect("uuid").to_string();
    loop {
        let t = json(addr, "GET", &format!("/api/v1/tasks/{id}"), serde_json::Value::Null).await;
        match t["status"].as_str() {
            Some("done") => return started.elapsed(),
            Some("failed" | "cancelled") => panic!("task ended: {t}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "task too long");
    }
}

/// The value at fraction `p` of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// An HTTP/1.1 connection reused for many GETs (replies framed by Content-Length).
pub struct KeepAlive {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl KeepAlive {
    pub async fn connect(addr: std::net::SocketAddr) -> KeepAlive {
        KeepAlive { stream: tokio::io::BufReader::new(tokio::net::TcpStream::connect(addr).await.expect("connect")) }
    }

    /// Sends a GET and reads its whole reply; returns the status.
    pub async fn get(&mut self, path: &str) -> u16 {
        self.get_body(path).await.0
    }

    /// Sends a GET and reads its whole reply; returns the status and the body.
    pub async fn get_body(&mut self, path: &str) -> (u16, Vec<u8>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
        self.stream.get_mut().write_all(head.as_bytes()).await.expect("send");
        let (mut status, mut length) = (0u16, 0usize);
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("read");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if status == 0 {
                status = l.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.expect("body");
        (status, body)
    }
}
